"""Tests for talkface_lite.encoding.hashgrid: tiny-cuda-nn semantics, brute-force parity, gradients, backends."""

import itertools
import math
import warnings

import numpy as np
import pytest
import torch

from talkface_lite.encoding.hashgrid import (
    HashGrid,
    HashGridConfig,
    collision_stats,
    hash_encode,
    mul_u32,
    vertex_slots,
)
from talkface_lite.kernels import build

# Written out here on purpose (not imported): tiny-cuda-nn's coherent_prime_hash factors.
HAND_PRIMES = (1, 2654435761, 805459861)


def hand_levels(D, L, T, base, b):
    """Level geometry computed by hand for per_level_scale b = 2 (exact in float32)."""
    out, offset = [], 0
    for lvl in range(L):
        scale = b**lvl * base - 1
        res = math.ceil(scale) + 1
        size = min(-(-(res**D) // 8) * 8, 2**T)
        out.append(dict(scale=scale, res=res, size=size, offset=offset, hashed=res**D > size))
        offset += size
    return out


def brute_force(x, table, levels, F, smoothstep=False):
    """Per-point, per-level, per-corner Python loops with Python integers (exact uint32 maths)."""
    x = np.asarray(x, dtype=np.float64)
    table = np.asarray(table, dtype=np.float64)
    N, D = x.shape
    out = np.zeros((N, len(levels) * F))
    for i in range(N):
        for lvl, lv in enumerate(levels):
            pos = [x[i, d] * lv["scale"] + 0.5 for d in range(D)]
            cell = [math.floor(p) for p in pos]
            frac = [p - c for p, c in zip(pos, cell)]
            if smoothstep:
                frac = [f * f * (3 - 2 * f) for f in frac]
            for corner in itertools.product((0, 1), repeat=D):
                c = [(cell[d] + corner[d]) % 2**32 for d in range(D)]
                w = 1.0
                for d in range(D):
                    w *= frac[d] if corner[d] else 1 - frac[d]
                if lv["hashed"]:
                    index = 0
                    for d in range(D):
                        index ^= (c[d] * HAND_PRIMES[d]) % 2**32
                else:
                    index = sum(c[d] * lv["res"] ** d for d in range(D)) % 2**32
                index %= lv["size"]
                out[i, lvl * F : (lvl + 1) * F] += w * table[lv["offset"] + index]
    return out


# ---------------------------------------------------------------- geometry


def test_level_geometry_and_dense_hash_switch_hand_computed():
    # 2D, N_min=16, b=2, T=10: scales 15, 31, 63, 127 -> res 16, 32, 64, 128.
    # res^2 = 256, 1024 fit in 2^10 rows (1024 fits exactly: still dense), 4096 and 16384 do not.
    cfg = HashGridConfig(2, n_levels=4, n_features_per_level=2, log2_hashmap_size=10, base_resolution=16)
    levels = cfg.levels()
    assert [lv.scale for lv in levels] == [15.0, 31.0, 63.0, 127.0]
    assert [lv.resolution for lv in levels] == [16, 32, 64, 128]
    assert [lv.size for lv in levels] == [256, 1024, 1024, 1024]
    assert [lv.offset for lv in levels] == [0, 256, 1280, 2304]
    assert [lv.hashed for lv in levels] == [False, False, True, True]
    assert cfg.n_params == 3328 and cfg.n_output_dims == 8
    assert [
        dict(scale=lv.scale, res=lv.resolution, size=lv.size, offset=lv.offset, hashed=lv.hashed) for lv in levels
    ] == hand_levels(2, 4, 10, 16, 2)


def test_level_size_rounds_up_to_multiple_of_8():
    # 3D, N_min=3: scale 2 -> res 3 -> 27 vertices -> 32 rows (tiny-cuda-nn pads levels to 8)
    cfg = HashGridConfig(3, n_levels=1, base_resolution=3, log2_hashmap_size=10)
    lv = cfg.levels()[0]
    assert (lv.resolution, lv.n_vertices, lv.size, lv.hashed) == (3, 27, 32, False)


def test_ernerf_plane_switches_to_hashing_at_level_4():
    # b = 8^(1/11): level 3 has scale 64 * 8^(3/11) - 1 = 111.84 -> res 113, 113^2 = 12769 <= 2^14 (dense);
    # level 4: 64 * 8^(4/11) - 1 = 135.33 -> res 137, 137^2 = 18769 > 16384 (hashed).
    cfg = HashGridConfig.from_finest(
        2, 512, n_levels=12, base_resolution=64, n_features_per_level=1, log2_hashmap_size=14
    )
    levels = cfg.levels()
    assert [lv.hashed for lv in levels] == [False] * 4 + [True] * 8
    assert levels[3].resolution == 113 and levels[4].resolution == 137
    assert levels[0].resolution == 64 and abs(levels[-1].scale - 511) < 1e-3


def test_mul_u32_matches_python_integers():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 2**32, 1000, dtype=np.int64)
    for b in (*HAND_PRIMES, 3674653429, 2**32 - 1):
        got = mul_u32(torch.from_numpy(a), b).numpy()
        want = np.array([(int(v) * b) % 2**32 for v in a], dtype=np.int64)
        assert np.array_equal(got, want)


def test_hashed_vertex_slot_by_hand():
    # level 2 of the 2D T=10 grid is hashed: vertex (3, 5) -> 3*1 XOR (5*2654435761 mod 2^32)
    # = 3 XOR 387276917 = 387276918 ; mod 1024 = 118.  Dense level 1 (res 32): 3 + 5*32 = 163.
    cfg = HashGridConfig(2, n_levels=4, log2_hashmap_size=10)
    v = torch.tensor([[3, 5]])
    assert int(vertex_slots(cfg, 2, v)[0]) == 118
    assert int(vertex_slots(cfg, 1, v)[0]) == 163


# ---------------------------------------------------------------- brute force parity


@pytest.mark.parametrize("D", [2, 3])
@pytest.mark.parametrize("smoothstep", [False, True])
def test_matches_brute_force_dense_and_hashed_levels(D, smoothstep):
    T = 10 if D == 2 else 12
    L, F = 4, 2
    levels = hand_levels(D, L, T, 16 if D == 2 else 8, 2)
    assert any(lv["hashed"] for lv in levels) and not all(lv["hashed"] for lv in levels)
    cfg = HashGridConfig(
        D,
        n_levels=L,
        n_features_per_level=F,
        log2_hashmap_size=T,
        base_resolution=16 if D == 2 else 8,
        interpolation="smoothstep" if smoothstep else "linear",
    )
    g = torch.Generator().manual_seed(1)
    table = torch.randn(cfg.n_params, F, dtype=torch.float64, generator=g)
    x = torch.rand(40, D, dtype=torch.float64, generator=g)
    x[0] = 1.0  # the far corner: dense indices spill over the edge exactly like tiny-cuda-nn
    x[1] = 0.0
    got = hash_encode(x, table, cfg).numpy()
    want = brute_force(x.numpy(), table.numpy(), levels, F, smoothstep)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_float32_matches_brute_force():
    cfg = HashGridConfig(3, n_levels=5, n_features_per_level=1, log2_hashmap_size=11, base_resolution=4)
    torch.manual_seed(2)
    table = torch.randn(cfg.n_params, 1)
    x = torch.rand(30, 3)
    got = hash_encode(x, table, cfg).double().numpy()
    want = brute_force(x.numpy(), table.numpy(), hand_levels(3, 5, 11, 4, 2), 1)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_module_output_layout_and_leading_dims():
    grid = HashGrid(HashGridConfig(3, n_levels=3, n_features_per_level=4, log2_hashmap_size=8, base_resolution=4))
    x = torch.rand(5, 7, 3)
    y = grid(x)
    assert y.shape == (5, 7, 12)
    flat = hash_encode(x.reshape(-1, 3), grid.table, grid.config)
    assert torch.equal(y.reshape(-1, 12), flat)


def test_init_is_uniform_1e4():
    grid = HashGrid(HashGridConfig(2, n_levels=2, log2_hashmap_size=12))
    t = grid.table.detach()
    assert t.abs().max() <= 1e-4 and t.std() > 3e-5  # U(-1e-4, 1e-4) has std 5.8e-5


# ---------------------------------------------------------------- gradients


def test_gradcheck_table_float64():
    cfg = HashGridConfig(3, n_levels=3, n_features_per_level=2, log2_hashmap_size=6, base_resolution=3)
    assert [lv.hashed for lv in cfg.levels()] == [False, True, True]
    torch.manual_seed(0)
    table = torch.randn(cfg.n_params, 2, dtype=torch.float64, requires_grad=True)
    x = torch.rand(12, 3, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda t: hash_encode(x, t, cfg, chunk_size=5), (table,))


@pytest.mark.parametrize("interp", ["linear", "smoothstep"])
def test_gradcheck_inputs_float64(interp):
    cfg = HashGridConfig(
        2, n_levels=3, n_features_per_level=2, log2_hashmap_size=6, base_resolution=4, interpolation=interp
    )
    torch.manual_seed(0)
    table = torch.randn(cfg.n_params, 2, dtype=torch.float64, requires_grad=True)
    x = (torch.rand(10, 2, dtype=torch.float64) * 0.9 + 0.05).requires_grad_()
    assert torch.autograd.gradcheck(lambda xx, t: hash_encode(xx, t, cfg), (x, table))


def test_chunking_gives_identical_results():
    cfg = HashGridConfig(3, n_levels=4, n_features_per_level=2, log2_hashmap_size=10, base_resolution=6)
    torch.manual_seed(3)
    table = torch.randn(cfg.n_params, 2, requires_grad=True)
    x = torch.rand(1000, 3, requires_grad=True)
    g = torch.randn(1000, 8)
    outs, grads = [], []
    for chunk in (1000, 333, 7):
        y = hash_encode(x, table, cfg, chunk_size=chunk)
        gt, gx = torch.autograd.grad(y, (table, x), g)
        outs.append(y)
        grads.append((gt, gx))
    for y, (gt, gx) in zip(outs[1:], grads[1:]):
        assert torch.equal(y, outs[0])
        # the table gradient sums the same terms in a different order (corner-major per chunk): float32 rounding only
        assert torch.allclose(gt, grads[0][0], rtol=1e-5, atol=1e-6)
        assert torch.equal(gx, grads[0][1])


def test_table_gradient_is_interpolation_weight():
    # one 2D point, one dense level: d out / d table[row] is the bilinear weight of that corner
    cfg = HashGridConfig(2, n_levels=1, n_features_per_level=1, log2_hashmap_size=10, base_resolution=5)
    table = torch.zeros(cfg.n_params, 1, dtype=torch.float64, requires_grad=True)
    x = torch.tensor([[0.3, 0.6]], dtype=torch.float64)
    hash_encode(x, table, cfg).sum().backward()
    # scale 4: pos = (1.7, 2.9): cell (1, 2), frac (0.7, 0.9); rows = cx + 5 cy
    want = {1 + 5 * 2: 0.3 * 0.1, 2 + 5 * 2: 0.7 * 0.1, 1 + 5 * 3: 0.3 * 0.9, 2 + 5 * 3: 0.7 * 0.9}
    grad = table.grad[:, 0]
    for row, w in want.items():
        assert abs(float(grad[row]) - w) < 1e-12
    assert abs(float(grad.sum()) - 1.0) < 1e-12


def test_float16_grid_computes_in_half_with_float32_master_table():
    grid = HashGrid(HashGridConfig(2, n_levels=2, log2_hashmap_size=8), dtype=torch.float16)
    y = grid(torch.rand(16, 2))
    assert y.dtype == torch.float16 and grid.table.dtype == torch.float32  # tiny-cuda-nn's PyTorch module does so
    y.float().sum().backward()
    assert grid.table.grad.dtype == torch.float32


@pytest.mark.parametrize("backend", ["torch", "cpu"])
def test_float16_grid_trains_with_plain_adam(backend):
    # Adam's eps = 1e-15 is 0 in float16: on half parameters every row the batch misses gets m = v = 0 and
    # 0 / (sqrt(0) + 0) = NaN at step 1. With float32 master parameters the update is finite everywhere.
    torch.manual_seed(0)
    grid = HashGrid(HashGridConfig(3, n_levels=4, log2_hashmap_size=10), dtype=torch.float16, backend=backend)
    opt = torch.optim.Adam(grid.parameters(), lr=1e-2, eps=1e-15)
    x = torch.rand(256, 3)
    before = grid(x).float()
    (grid(x).float() - 1.0).pow(2).mean().backward()
    opt.step()
    after = grid(torch.rand(4096, 3))
    assert torch.isfinite(grid.table).all() and torch.isfinite(after).all()
    assert (grid(x).float() - before).abs().max() > 1e-3  # it did learn


@pytest.mark.parametrize("backend", ["torch", "cpu"])
def test_non_finite_points_are_refused_on_every_backend(backend):
    grid = HashGrid(HashGridConfig(3, n_levels=4, log2_hashmap_size=10), backend=backend)
    x = torch.rand(4096, 3)
    x[17, 0] = float("nan")
    x[900, 2] = float("inf")
    with pytest.raises(
        ValueError,
        match=r"HashGrid: points: 2 of 12288 values are NaN or inf \(first at index "
        r"\(17, 0\)\)",
    ):
        grid(x)
    assert grid.table.grad is None  # refused before anything was computed
    with pytest.raises(ValueError, match="NaN or inf"):
        hash_encode(x, grid.table.detach(), grid.config)


def test_non_finite_points_are_refused_by_the_triplane():
    from talkface_lite.encoding.triplane import TriPlane, TriPlaneConfig

    p = torch.zeros(10, 3)
    p[3, 1] = float("-inf")
    with pytest.raises(ValueError, match=r"TriPlane: points: 1 of 30 values .* \(3, 1\)"):
        TriPlane(TriPlaneConfig(n_levels=2, log2_hashmap_size=8))(p)


@pytest.mark.parametrize("backend", ["torch", "cpu"])
def test_empty_batch_gives_an_empty_result(backend):
    from talkface_lite.encoding.triplane import TriPlane, TriPlaneConfig

    grid = HashGrid(HashGridConfig(3, n_levels=4, log2_hashmap_size=10), backend=backend)
    out = grid(torch.empty(0, 3))
    assert out.shape == (0, 8)
    out.sum().backward()  # still part of the graph: zero gradient
    assert float(grid.table.grad.abs().sum()) == 0.0
    assert grid(torch.empty(2, 0, 3)).shape == (2, 0, 8)
    assert TriPlane(TriPlaneConfig(n_levels=2, log2_hashmap_size=8), backend=backend)(torch.empty(0, 3)).shape == (0, 6)


# ---------------------------------------------------------------- errors and backends


def test_bad_inputs_are_explained():
    grid = HashGrid(HashGridConfig(3, n_levels=2, log2_hashmap_size=8))
    with pytest.raises(ValueError, match=r"\(\.\.\., 3\)"):
        grid(torch.rand(4, 2))
    with pytest.raises(TypeError, match="floating point"):
        hash_encode(torch.zeros(4, 3, dtype=torch.int64), grid.table, grid.config)
    with pytest.raises(ValueError, match="backend"):
        HashGrid(HashGridConfig(3), backend="fast")
    with pytest.raises(ValueError, match="log2_hashmap_size"):
        HashGridConfig(2, log2_hashmap_size=40)
    with pytest.raises(ValueError, match="finest_resolution"):
        HashGridConfig.from_finest(2, 32, base_resolution=64)


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda: HashGridConfig(5), ("n_input_dims=5", "use 2 (planes) or 3 (volumes)")),
        (lambda: HashGridConfig(3, n_levels=0), ("n_levels=0", "use 1..32 levels")),
        (lambda: HashGridConfig(3, log2_hashmap_size=31), ("log2_hashmap_size=31", "use 1..30")),
        (lambda: HashGridConfig(2, base_resolution=1), ("base_resolution=1", "use at least 2")),
        (lambda: HashGridConfig(2, per_level_scale=0.5), ("per_level_scale=0.5", "use a growth factor >= 1")),
        (lambda: HashGridConfig(2, interpolation="cubic"), ("interpolation='cubic'", "use one of")),
        (lambda: HashGridConfig.from_finest(2, 32, base_resolution=64), ("finest_resolution=32", "give a finest")),
        (lambda: HashGrid(3), ("expected a HashGridConfig, got int", "HashGridConfig.instant_ngp()")),
    ],
)
def test_a_bad_config_is_a_one_line_error_that_says_what_to_do(make, words):
    with pytest.raises((ValueError, TypeError)) as info:
        make()
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith("HashGrid: ") and all(w in msg for w in words), msg


# ---------------------------------------------------------------- config, presets


def test_instant_ngp_preset_has_the_documented_values_and_counts():
    cfg = HashGridConfig.instant_ngp()
    assert (
        cfg.n_input_dims,
        cfg.n_levels,
        cfg.n_features_per_level,
        cfg.log2_hashmap_size,
        cfg.base_resolution,
        cfg.per_level_scale,
        cfg.interpolation,
    ) == (3, 16, 2, 19, 16, 2.0, "linear")
    # b = 2: resolution 16 * 2^l; levels 0-2 dense (16^3, 32^3, 64^3 are multiples of 8), then 128^3 > 2^19
    assert [lv.resolution for lv in cfg.levels()] == [16 * 2**k for k in range(16)]
    rows = 16**3 + 32**3 + 64**3 + 13 * 2**19
    assert cfg.n_params == rows == 7_114_752 and cfg.parameter_count == 2 * rows == 14_229_504
    assert cfg.n_output_dims == 32 and [lv.hashed for lv in cfg.levels()] == [False] * 3 + [True] * 13
    assert HashGridConfig.instant_ngp(2).n_input_dims == 2
    assert HashGrid(cfg, device="meta").table.shape == (rows, 2)


def test_describe_lists_fields_and_derived_geometry():
    cfg = HashGridConfig(2, n_levels=4, n_features_per_level=2, log2_hashmap_size=10, base_resolution=16)
    d = cfg.describe()
    assert {
        k: d[k]
        for k in (
            "n_input_dims",
            "n_levels",
            "n_features_per_level",
            "log2_hashmap_size",
            "base_resolution",
            "per_level_scale",
            "interpolation",
        )
    } == {
        "n_input_dims": 2,
        "n_levels": 4,
        "n_features_per_level": 2,
        "log2_hashmap_size": 10,
        "base_resolution": 16,
        "per_level_scale": 2.0,
        "interpolation": "linear",
    }
    assert d["resolutions"] == [16, 32, 64, 128] and d["level_rows"] == [256, 1024, 1024, 1024]
    assert d["hashed"] == [False, False, True, True] and d["first_hashed_level"] == 2
    assert d["table_rows"] == 3328 and d["parameter_count"] == 6656 and d["n_output_dims"] == 8
    assert isinstance(HashGridConfig(2, per_level_scale=2).per_level_scale, float)  # JSON shows 2.0, as tcnn


# Outputs of the keyword constructor this replaced, ``HashGrid(2, n_levels=4, n_features_per_level=2,
# log2_hashmap_size=10, base_resolution=8, finest_resolution=64, dtype=torch.float64, backend="torch")`` and
# ``HashGrid(3, 4, 2, 12, 4, finest_resolution=32, ...)`` after ``torch.manual_seed(0)``, on the points below.
OLD_KEYWORD_OUTPUTS = {
    2: (0.0007552843383533652, 0.015443996336439917),
    3: (-0.0009501221231564536, 0.011916252763750471),
}


@pytest.mark.parametrize("D", [2, 3])
def test_config_construction_equals_the_old_keyword_construction(D):
    if D == 2:
        cfg = HashGridConfig.from_finest(
            2, 64, n_levels=4, n_features_per_level=2, log2_hashmap_size=10, base_resolution=8
        )
    else:
        cfg = HashGridConfig.from_finest(
            3, 32, n_levels=4, n_features_per_level=2, log2_hashmap_size=12, base_resolution=4
        )
    x = torch.rand(64, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)[:, :D]
    torch.manual_seed(0)
    grid = HashGrid(cfg, dtype=torch.float64, backend="torch")
    out = grid(x)
    total, l1 = OLD_KEYWORD_OUTPUTS[D]
    assert math.isclose(out.sum().item(), total, rel_tol=1e-12)
    assert math.isclose(out.abs().sum().item(), l1, rel_tol=1e-12)
    # and the table is the old initialisation: U(-1e-4, 1e-4) of (n_params, F) right after the seed
    torch.manual_seed(0)
    assert torch.equal(grid.table.detach(), torch.empty(cfg.n_params, 2, dtype=torch.float64).uniform_(-1e-4, 1e-4))
    assert grid.config is cfg


@pytest.fixture
def fresh_kernel_status():
    from talkface_lite.kernels import hashgrid as khg

    build._STATUS.pop(khg.EXT_NAME, None)
    yield
    build._STATUS.pop(khg.EXT_NAME, None)


@pytest.mark.skipif(torch.cuda.is_available(), reason="tests the fallback on a machine without CUDA")
def test_backend_cuda_without_cuda_falls_back_with_one_warning(fresh_kernel_status):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        grid = HashGrid(HashGridConfig(2, n_levels=3, log2_hashmap_size=8), backend="cuda")
        grid2 = HashGrid(HashGridConfig(2, n_levels=3, log2_hashmap_size=8), backend="cuda")
        x = torch.rand(10, 2)
        y = grid(x)
        grid2(x)
    fallbacks = [w for w in caught if issubclass(w.category, build.KernelFallbackWarning)]
    assert len(fallbacks) == 1, [str(w.message) for w in caught]
    assert "PyTorch reference" in str(fallbacks[0].message)
    assert grid.active_backend() == "torch"
    assert torch.equal(y, hash_encode(x, grid.table, grid.config))


def test_backend_auto_on_cpu_is_the_cpu_kernel_and_silent(fresh_kernel_status):
    # this machine has a C++ compiler (tests/test_hashgrid_cpu_kernel.py covers one without)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        grid = HashGrid(HashGridConfig(2, n_levels=2, log2_hashmap_size=8))
        grid(torch.rand(3, 2))
        grid4 = HashGrid(HashGridConfig(4, n_levels=2, log2_hashmap_size=8))
        assert grid4.active_backend() == "torch"  # not covered: silent
    assert grid.active_backend() == "cpu"
    assert HashGrid(HashGridConfig(2, n_levels=2, log2_hashmap_size=8), backend="torch").active_backend() == "torch"


def test_backend_tcnn_without_tinycudann_is_a_clear_error():
    from talkface_lite.encoding import tcnn_adapter

    if tcnn_adapter.available():
        pytest.skip("tinycudann is installed here")
    with pytest.raises(RuntimeError, match="tinycudann"):
        HashGrid(HashGridConfig.instant_ngp(), backend="tcnn")


def test_tcnn_config_mapping():
    from talkface_lite.encoding.tcnn_adapter import tcnn_config

    cfg = HashGridConfig.from_finest(
        2,
        512,
        n_levels=12,
        base_resolution=64,
        n_features_per_level=1,
        log2_hashmap_size=14,
        interpolation="smoothstep",
    )
    c = tcnn_config(cfg)
    assert c["otype"] == "HashGrid" and c["n_levels"] == 12 and c["n_features_per_level"] == 1
    assert c["log2_hashmap_size"] == 14 and c["base_resolution"] == 64 and c["interpolation"] == "Smoothstep"
    assert abs(c["per_level_scale"] - 8 ** (1 / 11)) < 1e-12


# ---------------------------------------------------------------- collisions


def test_collision_stats_dense_levels_have_none_and_hashed_match_counting():
    cfg = HashGridConfig(2, n_levels=4, log2_hashmap_size=10)
    rows = collision_stats(cfg)
    assert [r["hashed"] for r in rows] == [False, False, True, True]
    assert rows[0]["colliding"] == 0 and rows[1]["colliding"] == 0 and rows[1]["used_rows"] == 1024
    # level 2: 64x64 = 4096 vertices into 1024 rows: count by hand with a dict
    slots = {}
    for i in range(64):
        for j in range(64):
            s = ((i * HAND_PRIMES[0]) ^ (j * HAND_PRIMES[1] % 2**32)) % 1024
            slots[s] = slots.get(s, 0) + 1
    colliding = sum(c for c in slots.values() if c > 1) / 4096
    assert rows[2]["n_vertices"] == 4096 and rows[2]["load"] == 4.0
    assert abs(rows[2]["colliding"] - colliding) < 1e-12
    assert rows[2]["used_rows"] == len(slots)
    assert abs(rows[2]["expected_colliding"] - (1 - (1 - 1 / 1024) ** 4095)) < 1e-12


def test_collision_stats_from_points_counts_touched_vertices():
    cfg = HashGridConfig(2, n_levels=1, log2_hashmap_size=10, base_resolution=16)
    x = torch.tensor([[0.0, 0.0]])  # pos (0.5, 0.5): the 4 vertices of cell (0, 0)
    row = collision_stats(cfg, x)[0]
    assert row["n_vertices"] == 4 and row["colliding"] == 0.0


@pytest.mark.parametrize(
    "field, value",
    [("n_levels", 2.5), ("n_levels", "16"), ("n_levels", True), ("log2_hashmap_size", 19.5), ("n_input_dims", "3")],
)
def test_config_fields_that_are_not_whole_numbers_are_refused_by_name(field, value):
    kwargs = {"n_input_dims": 3, field: value}
    with pytest.raises(ValueError, match=f"{field}={value!r} is not an integer; pass {field} as a whole number"):
        HashGridConfig(**kwargs)
