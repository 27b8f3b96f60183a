"""C++ CPU compositing kernel (talkface_lite.kernels.composite, impl="cpu") vs the PyTorch reference.

Forward and backward against autograd through ``rendering.composite_packed(backend="torch")``,
a hand-derived two-sample ray, float64 gradcheck, determinism, and the backend switch. The machine
without a compiler is covered in test_hashgrid_cpu_kernel.py (one message for both kernels).
"""

import math
import warnings

import pytest
import torch

from talkface_lite import rendering as R
from talkface_lite.kernels import build
from talkface_lite.kernels import composite as kc


@pytest.fixture(scope="module")
def kernel():
    env = build.cpu_build_environment()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", build.KernelFallbackWarning)
        path = kc.cpu_kernel_module()
    if path is None and not env.available:
        pytest.skip(f"no C++ toolchain here ({env.reason})")
    st = build.status(kc.CPU_EXT_NAME)
    assert path is not None, f"a C++ compiler is here but the CPU compositing kernel did not build: {st.reason}"
    return path


def ragged(counts, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    counts = torch.tensor(counts)
    ri = R.ray_indices_from_chunks(counts)
    n = ri.numel()
    sig = 6.0 * torch.rand(n, generator=g, dtype=dtype)
    rgb = torch.rand(n, 3, generator=g, dtype=dtype)
    delta = 0.02 + 0.3 * torch.rand(n, generator=g, dtype=dtype)
    ts = torch.cumsum(delta, 0)
    starts, cnt = R.chunks_from_ray_indices(ri, len(counts))
    return sig, rgb, delta, ts, ri, starts, cnt


COUNTS = [0, 1, 17, 64, 3, 0, 200, 2] * 40  # empty rays, single samples, long rays


def test_two_samples_by_hand(kernel):
    # T_0 = 1, w_0 = 1 - e^-1; T_1 = e^-1, w_1 = e^-1 (1 - e^-2); rgb = w_0 c_0 + w_1 c_1
    sig = torch.tensor([2.0, 4.0], dtype=torch.float64, requires_grad=True)
    rgb = torch.tensor([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5]], dtype=torch.float64)
    delta = torch.tensor([0.5, 0.5], dtype=torch.float64)
    ts = torch.tensor([1.0, 1.5], dtype=torch.float64)
    out = kc.composite_packed_fn(
        sig, rgb, delta, ts, torch.tensor([0, 0]), torch.tensor([0]), torch.tensor([2]), impl="cpu"
    )
    w0, w1 = 1 - math.exp(-1), math.exp(-1) * (1 - math.exp(-2))
    torch.testing.assert_close(out[3], torch.tensor([w0, w1], dtype=torch.float64), rtol=1e-14, atol=0)
    torch.testing.assert_close(out[0][0], torch.tensor([w0, w1, 0.5 * (w0 + w1)], dtype=torch.float64))
    out[2].sum().backward()  # opacity = 1 - exp(-(tau_0 + tau_1)): d/dsigma_i = delta_i exp(-3)
    torch.testing.assert_close(sig.grad, torch.full((2,), 0.5 * math.exp(-3), dtype=torch.float64))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_forward_and_backward_match_autograd_through_the_reference(kernel, dtype):
    sig, rgb, delta, ts, ri, starts, cnt = ragged(COUNTS, dtype, seed=1)
    n_rays = len(COUNTS)
    bg = torch.tensor([0.2, 0.7, 0.4], dtype=dtype)
    leaves_ref = [t.clone().requires_grad_(True) for t in (sig, rgb, delta, ts)]
    leaves_cpu = [t.clone().requires_grad_(True) for t in (sig, rgb, delta, ts)]
    outs = []
    for backend, (s, c, d, t) in (("torch", leaves_ref), ("cpu", leaves_cpu)):
        outs.append(R.composite_packed(c, s, t - d, t, ri, n_rays, t_mids=t, background=bg, backend=backend))
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-12)
    for field in ("rgb", "depth", "opacity", "weights", "transmittance"):
        torch.testing.assert_close(getattr(outs[1], field), getattr(outs[0], field), **tol)
    g = torch.Generator().manual_seed(2)
    ups = {
        f: torch.rand(getattr(outs[0], f).shape, generator=g, dtype=dtype)
        for f in ("rgb", "depth", "opacity", "weights", "transmittance")
    }
    grads = [
        torch.autograd.grad(sum((getattr(o, f) * u).sum() for f, u in ups.items()), leaves)
        for o, leaves in zip(outs, (leaves_ref, leaves_cpu))
    ]
    # dL/dsigma = delta (T_{i+1} g - S_i) cancels behind opaque samples: compare to the gradient's scale
    for a, b in zip(*grads):
        torch.testing.assert_close(b, a, rtol=tol["rtol"], atol=10 * tol["rtol"] * float(a.abs().max()))


def test_gradcheck_float64_all_inputs_and_outputs(kernel):
    sig, rgb, delta, ts, ri, starts, cnt = ragged([3, 0, 4, 1, 2, 0], torch.float64, seed=3)
    inputs = tuple(t.clone().requires_grad_(True) for t in (sig, rgb, delta, ts))
    assert torch.autograd.gradcheck(
        lambda s, c, d, t: kc.composite_packed_fn(s, c, d, t, ri, starts, cnt, impl="cpu"), inputs
    )


def test_same_bits_for_any_thread_count(kernel):
    sig, rgb, delta, ts, ri, starts, cnt = ragged(COUNTS * 4, seed=4)
    threads = torch.get_num_threads()

    def run(n_threads):
        torch.set_num_threads(n_threads)
        try:
            leaves = [t.clone().requires_grad_(True) for t in (sig, rgb, delta, ts)]
            out = kc.composite_packed_fn(*leaves, ri, starts, cnt, impl="cpu")
            return [o.detach() for o in out] + list(torch.autograd.grad(out[0].sum() + out[1].sum(), leaves))
        finally:
            torch.set_num_threads(threads)

    for a, b, c in zip(run(max(2, threads)), run(max(2, threads)), run(1)):
        assert torch.equal(a, b) and torch.equal(a, c)


def test_backend_auto_on_cpu_picks_the_kernel_and_bad_chunks_are_refused(kernel):
    sig, rgb, delta, ts, ri, starts, cnt = ragged([2, 3])
    assert kc.resolve_impl("auto", sig, rgb, delta, ts) == "cpu"
    assert kc.resolve_impl("twin", sig, rgb, delta, ts) == "twin"
    assert kc.resolve_impl("auto", sig.half(), rgb, delta, ts) == "twin"  # float16: not covered
    with pytest.raises(ValueError, match="impl"):
        kc.resolve_impl("fast", sig)
    with pytest.raises(RuntimeError, match="outside"):
        torch.ops.talkface_composite_cpu.forward(sig, rgb, delta, ts, torch.tensor([0, 4]), torch.tensor([2, 3]))
