"""CUDA hash-encoding kernel vs the PyTorch reference (talkface_lite.kernels.hashgrid).

Forward and backward, 2D and 3D, 1/2/4/8 features, float32 and float16 tables,
linear and smoothstep. Needs a CUDA device and a buildable extension; skips
otherwise (the kernels are still compile-checked by test_kernels_compile.py).
"""

import warnings

import pytest
import torch

from talkface_lite.encoding.hashgrid import HashGrid, HashGridConfig, hash_encode
from talkface_lite.kernels import build
from talkface_lite.kernels import hashgrid as khg

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA kernel parity needs a CUDA device")

# fp32: same cells and weights, sums in another order -> 1e-5 relative.
# fp16: the kernel rounds its float32 accumulator to half once -> half precision (2^-11 relative).
TOL = {torch.float32: dict(rtol=1e-5, atol=1e-5), torch.float16: dict(rtol=2e-3, atol=2e-3)}


@pytest.fixture(scope="module")
def ext():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", build.KernelFallbackWarning)
        module = khg.load()
    if module is None:
        st = build.status(khg.EXT_NAME)
        pytest.skip(f"hashgrid extension unavailable: {st.reason if st else 'unknown'}")
    return module


def _case(D, F, dtype, interp, n=4096, seed=0):
    # small tables so both dense and hashed levels occur (and collide)
    cfg = HashGridConfig(
        D,
        n_levels=6,
        n_features_per_level=F,
        log2_hashmap_size=12 if D == 2 else 14,
        base_resolution=8,
        per_level_scale=1.8,
        interpolation=interp,
    )
    assert any(lv.hashed for lv in cfg.levels()) and not all(lv.hashed for lv in cfg.levels())
    g = torch.Generator(device="cuda").manual_seed(seed)
    table = torch.randn(cfg.n_params, F, device="cuda", generator=g).to(dtype)
    x = torch.rand(n, D, device="cuda", generator=g)
    x[0] = 1.0  # far corner: the dense edge spill must match too
    return cfg, table, x


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("F", [1, 2, 4, 8])
@pytest.mark.parametrize("D", [2, 3])
def test_forward_matches_reference(ext, D, F, dtype):
    cfg, table, x = _case(D, F, dtype, "linear")
    got = khg.hash_encode_cuda(x, table, cfg)
    ref = hash_encode(x, table.float(), cfg)  # reference in float32 on the same values
    assert got.dtype == dtype and got.shape == (x.shape[0], cfg.n_output_dims)
    torch.testing.assert_close(got.float(), ref, **TOL[dtype])


@pytest.mark.parametrize("interp", ["linear", "smoothstep"])
@pytest.mark.parametrize("F", [1, 2, 4, 8])
@pytest.mark.parametrize("D", [2, 3])
def test_backward_matches_reference_fp32(ext, D, F, interp):
    cfg, table, x = _case(D, F, torch.float32, interp)
    g = torch.randn(x.shape[0], cfg.n_output_dims, device="cuda")
    t1, x1 = table.clone().requires_grad_(), x.clone().requires_grad_()
    t2, x2 = table.clone().requires_grad_(), x.clone().requires_grad_()
    gt1, gx1 = torch.autograd.grad(khg.hash_encode_cuda(x1, t1, cfg), (t1, x1), g)
    gt2, gx2 = torch.autograd.grad(hash_encode(x2, t2, cfg), (t2, x2), g)
    torch.testing.assert_close(gt1, gt2, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(gx1, gx2, rtol=1e-4, atol=1e-3)  # d/dx multiplies by the scale (up to ~60)


@pytest.mark.parametrize("D", [2, 3])
def test_backward_fp16_table(ext, D):
    cfg, table, x = _case(D, 2, torch.float16, "linear")
    g = torch.randn(x.shape[0], cfg.n_output_dims, device="cuda").half()
    t1 = table.clone().requires_grad_()
    (gt1,) = torch.autograd.grad(khg.hash_encode_cuda(x, t1, cfg), (t1,), g)
    t2 = table.float().requires_grad_()
    (gt2,) = torch.autograd.grad(hash_encode(x, t2, cfg), (t2,), g.float())
    assert gt1.dtype == torch.float16
    # float32 accumulation, one rounding to half at the end
    torch.testing.assert_close(gt1.float(), gt2, rtol=2e-3, atol=2e-3)


def test_module_uses_kernel_and_default_grid_matches(ext):
    grid = HashGrid(HashGridConfig.instant_ngp(), backend="cuda", device="cuda")  # Instant-NGP: 16 levels x 2, T = 2^19
    assert grid.active_backend() == "cuda"
    x = torch.rand(1 << 16, 3, device="cuda")
    got = grid(x)
    ref = hash_encode(x, grid.table, grid.config)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-7)  # outputs ~1e-4 (init U(-1e-4, 1e-4))


def test_triplane_on_cuda_matches_torch_backend(ext):
    from talkface_lite.encoding.triplane import TriPlane, TriPlaneConfig

    torch.manual_seed(0)
    a = TriPlane(TriPlaneConfig.er_nerf(), device="cuda", backend="cuda")
    b = TriPlane(TriPlaneConfig.er_nerf(), device="cuda", backend="torch")
    b.load_state_dict(a.state_dict())
    p = torch.rand(10000, 3, device="cuda") * 2 - 1
    torch.testing.assert_close(a(p), b(p), rtol=1e-5, atol=1e-7)


def test_unsupported_grid_falls_back_to_torch(ext):
    with pytest.warns(build.KernelFallbackWarning, match="n_input_dims=4"):
        grid = HashGrid(HashGridConfig(4, n_levels=2, log2_hashmap_size=8), backend="cuda", device="cuda")
    assert grid.active_backend() == "torch"
    assert grid(torch.rand(5, 4, device="cuda")).shape == (5, 4)
