"""Tests for talkface_lite.kernels.composite: the hand-written backward (its PyTorch twin) and the CUDA kernel parity.

The C++ CPU kernel is tested in test_composite_cpu_kernel.py.
"""

import math

import pytest
import torch

from talkface_lite import rendering as R
from talkface_lite.kernels import composite as kc

CUDA = torch.cuda.is_available()


def ragged(counts, dtype=torch.float64, seed=0, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    counts = torch.tensor(counts)
    ri = R.ray_indices_from_chunks(counts)
    n = ri.numel()
    sig = (4.0 * torch.rand(n, generator=g, dtype=dtype)).to(device)
    rgb = torch.rand(n, 3, generator=g, dtype=dtype).to(device)
    delta = (0.05 + 0.5 * torch.rand(n, generator=g, dtype=dtype)).to(device)
    ts = (torch.cumsum(delta.cpu(), 0)).to(device)
    starts, cnt = R.chunks_from_ray_indices(ri, len(counts))
    return sig, rgb, delta, ts, ri.to(device), starts.to(device), cnt.to(device)


def test_single_sample_gradient_by_hand():
    # w = 1 - exp(-sigma delta): dw/dsigma = delta exp(-sigma delta); rgb = w c -> d rgb/dc = w
    sig = torch.tensor([2.0], dtype=torch.float64, requires_grad=True)
    rgb = torch.tensor([[0.5, 0.25, 1.0]], dtype=torch.float64, requires_grad=True)
    delta = torch.tensor([0.5], dtype=torch.float64)
    out = kc.composite_packed_fn(
        sig,
        rgb,
        delta,
        torch.tensor([1.0], dtype=torch.float64),
        torch.tensor([0]),
        torch.tensor([0]),
        torch.tensor([1]),
        impl="twin",
    )
    out[0].sum().backward()
    w = 1 - math.exp(-1.0)
    assert out[3].item() == pytest.approx(w)
    assert sig.grad.item() == pytest.approx(0.5 * math.exp(-1.0) * 1.75)
    torch.testing.assert_close(rgb.grad, torch.full((1, 3), w, dtype=torch.float64))


def test_gradcheck_float64_all_inputs_and_outputs():
    sig, rgb, delta, ts, ri, starts, cnt = ragged([3, 0, 4, 1, 2, 0])
    inputs = tuple(t.clone().requires_grad_(True) for t in (sig, rgb, delta, ts))
    assert torch.autograd.gradcheck(
        lambda s, c, d, t: kc.composite_packed_fn(s, c, d, t, ri, starts, cnt, impl="twin"), inputs
    )


def test_function_equals_autograd_through_the_reference():
    sig, rgb, delta, ts, ri, starts, cnt = ragged([5, 1, 0, 7, 3, 0], dtype=torch.float32, seed=2)
    bg = torch.tensor([0.1, 0.9, 0.3])
    a = [t.clone().requires_grad_(True) for t in (sig, rgb)]
    b = [t.clone().requires_grad_(True) for t in (sig, rgb)]
    ref = R.composite_packed(a[1], a[0], ts - delta, ts, ri, 6, t_mids=ts, background=bg, backend="torch")
    rgb_f, depth, opacity, weights, trans = kc.composite_packed_fn(b[0], b[1], delta, ts, ri, starts, cnt, impl="twin")
    rgb_f = rgb_f + (1 - opacity)[:, None] * bg
    for x, y in (
        (rgb_f, ref.rgb),
        (depth, ref.depth),
        (opacity, ref.opacity),
        (weights, ref.weights),
        (trans, ref.transmittance),
    ):
        torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-6)
    upstream = torch.linspace(0.5, 1.5, 18).reshape(6, 3)
    loss_ref = (ref.rgb * upstream).sum() + ref.depth.sum() * 0.3 + (ref.weights**2).sum()
    loss_fn = (rgb_f * upstream).sum() + depth.sum() * 0.3 + (weights**2).sum()
    for x, y in zip(torch.autograd.grad(loss_fn, b), torch.autograd.grad(loss_ref, a)):
        torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-6)


def test_backend_auto_on_cpu_says_nothing_about_cuda(recwarn):
    sig, rgb, delta, ts, ri, starts, cnt = ragged([2, 2], dtype=torch.float32)
    R.composite_packed(rgb, sig, ts - delta, ts, ri, 2, backend="auto")
    assert not [w for w in recwarn if "CUDA kernel" in str(w.message)]


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="rgbs"):
        kc.composite_packed_fn(
            torch.zeros(3),
            torch.zeros(3, 4),
            torch.zeros(3),
            torch.zeros(3),
            torch.zeros(3, dtype=torch.long),
            torch.zeros(1, dtype=torch.long),
            torch.full((1,), 3),
        )


@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
def test_cuda_kernel_matches_cpu_reference_forward_and_backward():
    assert kc.kernel_available(), f"kernel did not build: {kc.status('composite')}"
    counts = [0, 1, 17, 64, 3, 200] * 50
    cpu = ragged(counts, dtype=torch.float32, seed=5)
    gpu = [t.cuda() for t in cpu]
    outs = []
    for sig, rgb, delta, ts, ri, starts, cnt in (cpu, gpu):
        leaves = [t.clone().requires_grad_(True) for t in (sig, rgb, delta, ts)]
        out = kc.composite_packed_fn(*leaves, ri, starts, cnt)
        g = torch.Generator().manual_seed(9)
        ups = [torch.rand(o.shape, generator=g).to(o.device) for o in out]
        grads = torch.autograd.grad(sum((o * u).sum() for o, u in zip(out, ups)), leaves)
        outs.append([o.detach().cpu() for o in (*out, *grads)])
    for x, y in zip(*outs):
        torch.testing.assert_close(y, x, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
def test_cuda_backend_switch_equals_torch_backend():
    sig, rgb, delta, ts, ri, starts, cnt = ragged([4, 0, 9], dtype=torch.float32, device="cuda")
    a = R.composite_packed(rgb, sig, ts - delta, ts, ri, 3, backend="cuda", background=torch.ones(3))
    b = R.composite_packed(rgb, sig, ts - delta, ts, ri, 3, backend="torch", background=torch.ones(3))
    torch.testing.assert_close(a.rgb, b.rgb, rtol=1e-5, atol=1e-6)
