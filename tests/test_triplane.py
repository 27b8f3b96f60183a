"""Tests for talkface_lite.encoding.triplane: ER-NeRF preset, config, plane order, bound mapping."""

import dataclasses
import math

import pytest
import torch

from talkface_lite.encoding.hashgrid import HashGrid, HashGridConfig, hash_encode
from talkface_lite.encoding.triplane import PLANES, TriPlane, TriPlaneConfig, triplane_param_count

SMALL = TriPlaneConfig(n_levels=2, log2_hashmap_size=8, base_resolution=4, finest_resolution=8)


def test_ernerf_default_has_36_features():
    tp = TriPlane(TriPlaneConfig.er_nerf())
    assert tp.n_output_dims == 36  # 3 planes x 12 levels x 1 feature
    for grid in tp.planes().values():
        c = grid.config
        assert (c.n_input_dims, c.n_levels, c.n_features_per_level, c.log2_hashmap_size, c.base_resolution) == (
            2,
            12,
            1,
            14,
            64,
        )
        assert grid.levels()[0].resolution == 64 and abs(grid.levels()[-1].scale - 511) < 1e-3
    y = tp(torch.rand(5, 3) * 2 - 1)
    assert y.shape == (5, 36)


def test_equals_concatenation_of_three_independent_planes():
    torch.manual_seed(0)
    tp = TriPlane(
        TriPlaneConfig(
            n_levels=4, n_features_per_level=2, log2_hashmap_size=10, base_resolution=8, finest_resolution=64
        )
    )
    with torch.no_grad():
        for grid in tp.planes().values():
            grid.table.normal_()  # distinct, non-tiny values per plane
    p = torch.rand(50, 3) * 2 - 1  # in [-1, 1]
    u = (p + 1) / 2
    # xy uses (x, y), yz uses (y, z), xz uses (x, z) -- written out by hand
    want = torch.cat(
        [
            hash_encode(u[:, [0, 1]].contiguous(), tp.xy.table, tp.xy.config),
            hash_encode(u[:, [1, 2]].contiguous(), tp.yz.table, tp.yz.config),
            hash_encode(u[:, [0, 2]].contiguous(), tp.xz.table, tp.xz.config),
        ],
        dim=-1,
    )
    assert torch.equal(tp(p), want)
    assert [name for name, _ in PLANES] == ["xy", "yz", "xz"]


def test_bound_maps_box_to_unit_square():
    tp = TriPlane(dataclasses.replace(SMALL, bound=2.0))
    u = tp.normalize(torch.tensor([[-2.0, 0.0, 2.0]]))
    assert torch.allclose(u, torch.tensor([[0.0, 0.5, 1.0]])) and tp.bound == 2.0
    with pytest.raises(ValueError, match="bound"):
        TriPlaneConfig(bound=0)


def test_planes_have_independent_tables_and_gradients():
    tp = TriPlane(SMALL)
    y = tp(torch.rand(20, 3) * 2 - 1)
    y[:, :2].sum().backward()  # only the xy features
    assert tp.xy.table.grad.abs().sum() > 0
    assert tp.yz.table.grad.abs().sum() == 0 and tp.xz.table.grad.abs().sum() == 0


def test_param_count_and_leading_dims():
    # ER-NeRF plane: levels 0-3 dense (64^2, 78^2, 94^2, 113^2 rounded to 8) + 8 hashed levels of 2^14
    dense = 4096 + 6088 + 8840 + 12776
    assert triplane_param_count(TriPlaneConfig.er_nerf()) == 3 * (dense + 8 * 16384)
    assert triplane_param_count(TriPlane(TriPlaneConfig.er_nerf(), device="meta")) == 3 * (dense + 8 * 16384)
    tp = TriPlane(SMALL)
    assert tp(torch.zeros(2, 3, 3)).shape == (2, 3, 2 * 3)
    with pytest.raises(ValueError, match=r"\(\.\.\., 3\)"):
        tp(torch.zeros(4, 2))


def test_backend_is_passed_to_every_plane():
    tp = TriPlane(SMALL, backend="torch")
    assert all(isinstance(g, HashGrid) and g.backend == "torch" for g in tp.planes().values())


# ---------------------------------------------------------------- config, presets


def test_er_nerf_preset_has_the_documented_values_and_parameter_count_by_hand():
    cfg = TriPlaneConfig.er_nerf()
    assert (
        cfg.n_levels,
        cfg.n_features_per_level,
        cfg.log2_hashmap_size,
        cfg.base_resolution,
        cfg.finest_resolution,
        cfg.bound,
        cfg.interpolation,
    ) == (12, 1, 14, 64, 512, 1.0, "linear")
    assert cfg == TriPlaneConfig()  # the field defaults are the preset
    # by hand: b = (512 / 64)^(1/11); level l has res = ceil(64 b^l - 1) + 1 vertices per axis and owns
    # min(res^2 rounded up to a multiple of 8, 2^14) rows of F = 1 feature; three such planes
    b = 8 ** (1 / 11)
    res = [math.ceil(64 * b**k - 1) + 1 for k in range(12)]
    rows = [min(-(-r * r // 8) * 8, 2**14) for r in res]
    assert res[:5] == [64, 78, 94, 113, 137] and rows[:5] == [4096, 6088, 8840, 12776, 16384]
    assert cfg.parameter_count == 3 * sum(rows) * 1 == 488_616 and cfg.n_output_dims == 36
    plane = cfg.plane
    # the code's scales are float32, as tiny-cuda-nn's: the finest is 511.00018, not 511, so 513 vertices, not 512
    # (a hashed level: its rows stay 2^14)
    assert [lv.resolution for lv in plane.levels()] == res[:11] + [513] and res[11] == 512
    assert plane.n_params == sum(rows) == 162_872
    assert (
        plane.n_input_dims,
        plane.n_levels,
        plane.n_features_per_level,
        plane.log2_hashmap_size,
        plane.base_resolution,
    ) == (2, 12, 1, 14, 64)
    assert abs(plane.per_level_scale - b) < 1e-12
    tp = TriPlane(cfg, device="meta")
    assert tp.config is cfg and all(g.config == plane for g in tp.planes().values())
    assert sum(p.numel() for p in tp.parameters()) == cfg.parameter_count


def test_describe_records_the_fields_and_the_plane_geometry():
    d = SMALL.describe()
    assert {
        k: d[k]
        for k in (
            "n_levels",
            "n_features_per_level",
            "log2_hashmap_size",
            "base_resolution",
            "finest_resolution",
            "bound",
            "interpolation",
        )
    } == dataclasses.asdict(SMALL)
    assert d["plane"]["resolutions"] == [4, 8] and d["plane"]["per_level_scale"] == 2.0
    assert d["parameter_count"] == 3 * (16 + 64) and d["n_output_dims"] == 6


def test_config_construction_equals_the_old_keyword_construction():
    # ``TriPlane(n_levels=4, n_features_per_level=2, log2_hashmap_size=10, base_resolution=8, finest_resolution=64,
    # bound=0.9, dtype=torch.float64, backend="torch")`` after torch.manual_seed(0) gave these on the points below
    old_sum, old_l1 = 0.0007855573370085325, 0.04833709996902306
    cfg = TriPlaneConfig(
        n_levels=4, n_features_per_level=2, log2_hashmap_size=10, base_resolution=8, finest_resolution=64, bound=0.9
    )
    x = torch.rand(64, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 1.8 - 0.9
    torch.manual_seed(0)
    out = TriPlane(cfg, dtype=torch.float64, backend="torch")(x)
    assert math.isclose(out.sum().item(), old_sum, rel_tol=1e-12)
    assert math.isclose(out.abs().sum().item(), old_l1, rel_tol=1e-12)


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda: TriPlaneConfig(bound=-1.0), ("TriPlane: bound=-1.0", "give the half-size of the box")),
        (lambda: TriPlaneConfig(bound=float("inf")), ("TriPlane: bound=inf", "must be positive and finite")),
        (lambda: TriPlaneConfig(n_levels=40), ("TriPlane (per-plane grid): n_levels=40", "use 1..32 levels")),
        (lambda: TriPlaneConfig(log2_hashmap_size=0), ("log2_hashmap_size=0", "use 1..30")),
        (lambda: TriPlaneConfig(base_resolution=64, finest_resolution=32), ("finest_resolution=32", "give a finest")),
        (lambda: TriPlane(), ("TriPlane.__init__()",)),
        (
            lambda: TriPlane(HashGridConfig(2)),
            ("TriPlane: expected a TriPlaneConfig, got HashGridConfig", "TriPlaneConfig.er_nerf()"),
        ),
    ],
)
def test_a_bad_config_is_a_one_line_error_that_says_what_to_do(make, words):
    with pytest.raises((ValueError, TypeError)) as info:
        make()
    msg = str(info.value)
    assert "\n" not in msg and all(w in msg for w in words), msg
