"""Tests for talkface_lite.encoding.triplane: ER-NeRF defaults, plane order, bound mapping."""
import pytest
import torch

from talkface_lite.encoding.hashgrid import HashGrid, hash_encode
from talkface_lite.encoding.triplane import PLANES, TriPlane, triplane_param_count


def test_ernerf_default_has_36_features():
    tp = TriPlane()
    assert tp.n_output_dims == 36  # 3 planes x 12 levels x 1 feature
    for grid in tp.planes().values():
        c = grid.config
        assert (c.n_input_dims, c.n_levels, c.n_features_per_level, c.log2_hashmap_size, c.base_resolution) == \
            (2, 12, 1, 14, 64)
        assert grid.levels()[0].resolution == 64 and abs(grid.levels()[-1].scale - 511) < 1e-3
    y = tp(torch.rand(5, 3) * 2 - 1)
    assert y.shape == (5, 36)


def test_equals_concatenation_of_three_independent_planes():
    torch.manual_seed(0)
    tp = TriPlane(n_levels=4, n_features_per_level=2, log2_hashmap_size=10, base_resolution=8, finest_resolution=64)
    with torch.no_grad():
        for grid in tp.planes().values():
            grid.table.normal_()  # distinct, non-tiny values per plane
    p = torch.rand(50, 3) * 2 - 1  # in [-1, 1]
    u = (p + 1) / 2
    # xy uses (x, y), yz uses (y, z), xz uses (x, z) -- written out by hand
    want = torch.cat([
        hash_encode(u[:, [0, 1]].contiguous(), tp.xy.table, tp.xy.config),
        hash_encode(u[:, [1, 2]].contiguous(), tp.yz.table, tp.yz.config),
        hash_encode(u[:, [0, 2]].contiguous(), tp.xz.table, tp.xz.config),
    ], dim=-1)
    assert torch.equal(tp(p), want)
    assert [name for name, _ in PLANES] == ["xy", "yz", "xz"]


def test_bound_maps_box_to_unit_square():
    tp = TriPlane(bound=2.0, n_levels=2, log2_hashmap_size=8, base_resolution=4, finest_resolution=8)
    u = tp.normalize(torch.tensor([[-2.0, 0.0, 2.0]]))
    assert torch.allclose(u, torch.tensor([[0.0, 0.5, 1.0]]))
    with pytest.raises(ValueError, match="bound"):
        TriPlane(bound=0)


def test_planes_have_independent_tables_and_gradients():
    tp = TriPlane(n_levels=2, log2_hashmap_size=8, base_resolution=4, finest_resolution=8)
    y = tp(torch.rand(20, 3) * 2 - 1)
    y[:, :2].sum().backward()  # only the xy features
    assert tp.xy.table.grad.abs().sum() > 0
    assert tp.yz.table.grad.abs().sum() == 0 and tp.xz.table.grad.abs().sum() == 0


def test_param_count_and_leading_dims():
    # ER-NeRF plane: levels 0-3 dense (64^2, 78^2, 94^2, 113^2 rounded to 8) + 8 hashed levels of 2^14
    dense = 4096 + 6088 + 8840 + 12776
    assert triplane_param_count() == 3 * (dense + 8 * 16384)
    tp = TriPlane(n_levels=2, log2_hashmap_size=8, base_resolution=4, finest_resolution=8)
    assert tp(torch.zeros(2, 3, 3)).shape == (2, 3, 2 * 3)
    with pytest.raises(ValueError, match=r"\(\.\.\., 3\)"):
        tp(torch.zeros(4, 2))


def test_backend_is_passed_to_every_plane():
    tp = TriPlane(n_levels=2, log2_hashmap_size=8, base_resolution=4, finest_resolution=8, backend="torch")
    assert all(isinstance(g, HashGrid) and g.backend == "torch" for g in tp.planes().values())
