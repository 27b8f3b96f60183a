"""C++ CPU hash-encoding kernel vs the PyTorch reference (talkface_lite.kernels.hashgrid_cpu).

Forward bit for bit (same arithmetic, same corner order), backward to float rounding, float64
gradcheck, determinism across runs and thread counts, the module backends, and a machine without a
C++ compiler (a subprocess with ``CXX`` pointing at a missing binary). The first test to need the
kernel builds it (seconds, cached under ``TALKFACE_KERNEL_CACHE``).
"""

import json
import os
import subprocess
import sys
import textwrap
import warnings

import pytest
import torch

from talkface_lite.encoding.hashgrid import HashGrid, HashGridConfig, hash_encode
from talkface_lite.encoding.triplane import PLANES, TriPlane, TriPlaneConfig
from talkface_lite.kernels import build
from talkface_lite.kernels import hashgrid_cpu as khc


@pytest.fixture(scope="module")
def kernel():
    env = build.cpu_build_environment()
    if not env.available and not khc.load():
        pytest.skip(f"no C++ toolchain here ({env.reason}); the fallback is tested below")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", build.KernelFallbackWarning)
        path = khc.load()
    st = build.status(khc.EXT_NAME)
    log = st.log_path.read_text()[-3000:] if st and st.log_path and st.log_path.is_file() else ""
    assert path is not None, f"a C++ compiler is here but the CPU kernel did not build: {st.reason}\n{log}"
    return path


def _case(D, F, interp="linear", dtype=torch.float32, n=3000, seed=0):
    # small tables so that dense and hashed levels occur (and collide)
    cfg = HashGridConfig(
        D,
        n_levels=6,
        n_features_per_level=F,
        log2_hashmap_size=10 if D == 2 else 12,
        base_resolution=6,
        per_level_scale=1.7,
        interpolation=interp,
    )
    assert any(lv.hashed for lv in cfg.levels()) and not all(lv.hashed for lv in cfg.levels())
    g = torch.Generator().manual_seed(seed)
    table = torch.randn(cfg.n_params, F, generator=g, dtype=dtype)
    x = torch.rand(n, D, generator=g, dtype=dtype) * 1.6 - 0.3  # inputs outside [0, 1] too (not clamped)
    x[0] = 1.0  # far corner: dense indices spill over the edge
    x[1] = 0.0
    x[2, 0] = -7.25  # far outside: negative cells wrap in uint32
    x[3, -1] = 1e6  # beyond every level's resolution
    x[4] = 0.5 - 1e-7  # next to a cell border
    return cfg, table, x


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("interp", ["linear", "smoothstep"])
@pytest.mark.parametrize("F", [1, 2, 4, 8])
@pytest.mark.parametrize("D", [2, 3])
def test_forward_gives_the_reference_bits(kernel, D, F, interp, dtype):
    cfg, table, x = _case(D, F, interp, dtype)
    got = khc.hash_encode_cpu(x, table, cfg)
    want = hash_encode(x, table, cfg)
    assert got.dtype == dtype and got.shape == (x.shape[0], cfg.n_output_dims)
    assert torch.equal(got, want), (got - want).abs().max()


@pytest.mark.parametrize("D", [2, 3])
def test_large_tables_give_the_same_bits_and_gradients(kernel, D):
    # levels of 2^16 rows x 4 features (1 MiB) take the kernel's other path (prefetching, level-major chunks)
    cfg = HashGridConfig(
        D, n_levels=3, n_features_per_level=4, log2_hashmap_size=16, base_resolution=64, per_level_scale=4.0
    )
    g = torch.Generator().manual_seed(5)
    table = torch.randn(cfg.n_params, 4, generator=g, requires_grad=True)
    x = torch.rand(150_000, D, generator=g)  # more than one chunk of the kernel
    got, want = khc.hash_encode_cpu(x, table, cfg), hash_encode(x, table, cfg)
    assert torch.equal(got, want)
    up = torch.randn(got.shape, generator=g)
    (gt1,), (gt2,) = torch.autograd.grad(got, table, up), torch.autograd.grad(want, table, up)
    torch.testing.assert_close(gt1, gt2, rtol=1e-5, atol=1e-5 * float(gt2.abs().max()))


@pytest.mark.parametrize("interp", ["linear", "smoothstep"])
@pytest.mark.parametrize("F", [1, 2, 4, 8])
@pytest.mark.parametrize("D", [2, 3])
def test_backward_matches_reference_fp32(kernel, D, F, interp):
    cfg, table, x = _case(D, F, interp)
    x = x.clamp(-1, 2)  # d/dx is scale * table differences: keep it O(100) so the tolerance means something
    g = torch.randn(x.shape[0], cfg.n_output_dims, generator=torch.Generator().manual_seed(1))
    t1, x1 = table.clone().requires_grad_(), x.clone().requires_grad_()
    t2, x2 = table.clone().requires_grad_(), x.clone().requires_grad_()
    gt1, gx1 = torch.autograd.grad(khc.hash_encode_cpu(x1, t1, cfg), (t1, x1), g)
    gt2, gx2 = torch.autograd.grad(hash_encode(x2, t2, cfg), (t2, x2), g)
    # same terms summed in another order (reference: chunk by chunk, corner-major): float32 rounding
    torch.testing.assert_close(gt1, gt2, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(gx1, gx2, rtol=1e-5, atol=1e-5 * float(gx2.abs().max()))


def test_backward_float64_matches_reference_to_1e12(kernel):
    cfg, table, x = _case(3, 2, "smoothstep", torch.float64)
    x = x.clamp(-1, 2)
    g = torch.randn(x.shape[0], cfg.n_output_dims, dtype=torch.float64)
    t1, x1 = table.clone().requires_grad_(), x.clone().requires_grad_()
    t2, x2 = table.clone().requires_grad_(), x.clone().requires_grad_()
    for a, b in zip(
        torch.autograd.grad(khc.hash_encode_cpu(x1, t1, cfg), (t1, x1), g),
        torch.autograd.grad(hash_encode(x2, t2, cfg), (t2, x2), g),
    ):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12 * float(b.abs().max()))


@pytest.mark.parametrize("interp", ["linear", "smoothstep"])
@pytest.mark.parametrize("D", [2, 3])
def test_gradcheck_float64(kernel, D, interp):
    cfg = HashGridConfig(
        D, n_levels=3, n_features_per_level=2, log2_hashmap_size=6, base_resolution=3, interpolation=interp
    )
    assert [lv.hashed for lv in cfg.levels()][-1]
    torch.manual_seed(0)
    table = torch.randn(cfg.n_params, 2, dtype=torch.float64, requires_grad=True)
    x = (torch.rand(12, D, dtype=torch.float64) * 0.9 + 0.05).requires_grad_()  # away from the box edges
    assert torch.autograd.gradcheck(lambda xx, t: khc.hash_encode_cpu(xx, t, cfg), (x, table))


def test_table_gradient_is_interpolation_weight(kernel):
    # one 2D point, one dense level (scale 4): pos = (1.7, 2.9), cell (1, 2), frac (0.7, 0.9); rows = cx + 5 cy
    cfg = HashGridConfig(2, n_levels=1, n_features_per_level=1, log2_hashmap_size=10, base_resolution=5)
    table = torch.zeros(cfg.n_params, 1, dtype=torch.float64, requires_grad=True)
    khc.hash_encode_cpu(torch.tensor([[0.3, 0.6]], dtype=torch.float64), table, cfg).sum().backward()
    want = {1 + 5 * 2: 0.3 * 0.1, 2 + 5 * 2: 0.7 * 0.1, 1 + 5 * 3: 0.3 * 0.9, 2 + 5 * 3: 0.7 * 0.9}
    grad = table.grad[:, 0]
    for row, w in want.items():
        assert abs(float(grad[row]) - w) < 1e-12
    assert abs(float(grad.sum()) - 1.0) < 1e-12


def test_backward_is_deterministic_across_runs_and_thread_counts(kernel):
    # Instant-NGP-like grid with collisions, small and large (prefetched) levels, more points than a chunk
    cfg = HashGridConfig(
        3, n_levels=16, n_features_per_level=2, log2_hashmap_size=16, base_resolution=4, per_level_scale=1.5
    )
    g = torch.Generator().manual_seed(3)
    table = torch.randn(cfg.n_params, 2, generator=g)
    x = torch.rand(70_000, 3, generator=g)
    up = torch.randn(70_000, cfg.n_output_dims, generator=g)
    threads = torch.get_num_threads()

    def grads(n_threads):
        torch.set_num_threads(n_threads)
        try:
            t, xx = table.clone().requires_grad_(), x.clone().requires_grad_()
            return torch.autograd.grad(khc.hash_encode_cpu(xx, t, cfg), (t, xx), up)
        finally:
            torch.set_num_threads(threads)

    first, again, single = grads(max(2, threads)), grads(max(2, threads)), grads(1)
    for a, b, c in zip(first, again, single):
        assert torch.equal(a, b) and torch.equal(a, c)


def test_float16_table_is_computed_in_float32(kernel):
    cfg, table, x = _case(2, 2)
    half = table.half()
    got = khc.hash_encode_cpu(x, half, cfg)
    assert got.dtype == torch.float16
    torch.testing.assert_close(got, hash_encode(x, half, cfg), rtol=0, atol=0)
    t = half.clone().requires_grad_()
    khc.hash_encode_cpu(x, t, cfg).float().sum().backward()
    assert t.grad.dtype == torch.float16


def test_unsupported_grids_are_refused_with_a_reason():
    assert "n_input_dims=4" in khc.unsupported_reason(HashGridConfig(4, n_levels=2, log2_hashmap_size=8), torch.float32)
    assert "n_features_per_level=3" in khc.unsupported_reason(HashGridConfig(2, n_features_per_level=3), torch.float32)
    assert khc.unsupported_reason(HashGridConfig(3), torch.float32) == ""
    with pytest.raises(ValueError, match="unsupported"):
        khc.hash_encode_cpu(torch.rand(2, 4), torch.zeros(8, 2), HashGridConfig(4, n_levels=1, log2_hashmap_size=3))


# ---------------------------------------------------------------- modules and backends


def test_hashgrid_auto_uses_the_cpu_kernel_and_torch_forces_the_reference(kernel):
    auto = HashGrid(HashGridConfig(3, n_levels=8, log2_hashmap_size=14))
    ref = HashGrid(HashGridConfig(3, n_levels=8, log2_hashmap_size=14), backend="torch")
    ref.load_state_dict(auto.state_dict())
    assert auto.active_backend() == "cpu" and ref.active_backend() == "torch"
    x = torch.rand(5000, 3)
    assert torch.equal(auto(x), ref(x))
    auto(x).square().sum().backward()
    ref(x).square().sum().backward()
    scale = float(ref.table.grad.abs().max())
    torch.testing.assert_close(auto.table.grad, ref.table.grad, rtol=1e-5, atol=1e-5 * scale)


def test_backend_cpu_on_an_uncovered_grid_warns_once_and_uses_the_reference(kernel):
    with pytest.warns(build.KernelFallbackWarning, match="n_input_dims=4"):
        grid = HashGrid(HashGridConfig(4, n_levels=2, log2_hashmap_size=8), backend="cpu")
    assert grid.active_backend() == "torch"
    assert grid(torch.rand(5, 4)).shape == (5, 4)


def test_triplane_single_call_equals_three_planes(kernel):
    torch.manual_seed(0)
    cfg = TriPlaneConfig(
        n_levels=6, n_features_per_level=2, log2_hashmap_size=10, base_resolution=8, finest_resolution=96
    )
    fused = TriPlane(cfg)
    ref = TriPlane(cfg, backend="torch")
    with torch.no_grad():
        for grid in fused.planes().values():
            grid.table.normal_()
    ref.load_state_dict(fused.state_dict())
    assert all(g.active_backend() == "cpu" for g in fused.planes().values())
    p1 = (torch.rand(4000, 3) * 2.2 - 1.1).requires_grad_()
    p2 = p1.detach().clone().requires_grad_()
    y1, y2 = fused(p1), ref(p2)
    assert torch.equal(y1, y2)
    up = torch.randn_like(y1)
    g1 = torch.autograd.grad(y1, [p1, *fused.parameters()], up)
    g2 = torch.autograd.grad(y2, [p2, *ref.parameters()], up)
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5 * float(b.abs().max()))
    # the single call is what three separate kernel calls and a concatenation give, bit for bit
    u = fused.normalize(p1.detach())
    parts = [
        khc.hash_encode_cpu(u[:, list(ax)].contiguous(), fused.planes()[name].table, fused.xy.config)
        for name, ax in PLANES
    ]
    assert torch.equal(y1, torch.cat(parts, -1))


# ---------------------------------------------------------------- builds, cache and no compiler


def test_cpu_build_cache_lives_under_talkface_kernel_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("TALKFACE_KERNEL_CACHE", str(tmp_path))
    where = build.cpu_cache_dir(khc.EXT_NAME, [build.KERNEL_DIR / s for s in khc.SOURCES + khc.HEADERS])
    assert tmp_path in where.parents and where.name.startswith(khc.EXT_NAME)
    assert torch.__version__ in str(where)


_NO_COMPILER_SCRIPT = textwrap.dedent("""
    import json, warnings
    import torch
    from talkface_lite import rendering
    from talkface_lite.encoding.hashgrid import HashGrid, HashGridConfig, hash_encode
    from talkface_lite.encoding.triplane import TriPlane, TriPlaneConfig
    from talkface_lite.kernels import build
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        grid = HashGrid(HashGridConfig(3, n_levels=4, log2_hashmap_size=10))
        x = torch.rand(100, 3)
        y = grid(x)
        y.sum().backward()
        tri = TriPlane(TriPlaneConfig(n_levels=2, log2_hashmap_size=8, base_resolution=4, finest_resolution=8))
        tri(torch.rand(10, 3) * 2 - 1).sum().backward()
        sig = torch.rand(6, requires_grad=True)
        out = rendering.composite_packed(torch.rand(6, 3), sig, torch.zeros(6), torch.full((6,), 0.1),
                                         torch.tensor([0, 0, 1, 1, 1, 2]), 3)
        out.rgb.sum().backward()
    messages = [str(w.message) for w in caught if issubclass(w.category, build.KernelFallbackWarning)]
    print(json.dumps(dict(messages=messages, backend=grid.active_backend(),
                          same=bool(torch.equal(y, hash_encode(x, grid.table, grid.config))),
                          composite_grad=bool(torch.isfinite(sig.grad).all()))))
""")


def _run_isolated(env_update, tmp_path):
    env = {**os.environ, **env_update}
    proc = subprocess.run(
        [sys.executable, "-c", _NO_COMPILER_SCRIPT], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_without_a_compiler_everything_runs_on_the_reference_with_one_message(tmp_path):
    out = _run_isolated(
        {"CXX": str(tmp_path / "no" / "such" / "c++"), "TALKFACE_KERNEL_CACHE": str(tmp_path / "cache")}, tmp_path
    )
    assert out["backend"] == "torch" and out["same"] and out["composite_grad"]
    assert len(out["messages"]) == 1, out["messages"]  # one message for every C++ CPU kernel
    msg = out["messages"][0]
    assert "no C++ compiler" in msg and "PyTorch reference" in msg and "doctor" in msg
    assert not any((tmp_path / "cache").rglob("*.so"))


def test_a_cached_build_loads_without_a_compiler(kernel, tmp_path):
    # what an instructor's shared TALKFACE_KERNEL_CACHE gives a student machine that has no compiler
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", build.KernelFallbackWarning)
        from talkface_lite.kernels import composite as kc

        if kc.cpu_kernel_module() is None:
            pytest.skip("the compositing kernel did not build here")
    out = _run_isolated(
        {"CXX": str(tmp_path / "no" / "such" / "c++"), "TALKFACE_KERNEL_CACHE": str(build.cache_root())}, tmp_path
    )
    assert out["backend"] == "cpu" and out["same"] and out["messages"] == []
