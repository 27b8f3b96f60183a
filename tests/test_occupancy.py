"""Tests for talkface_lite.occupancy: bitfield, EMA updates, marching with empty-space skipping."""
import pytest
import torch

from talkface_lite import rendering as R
from talkface_lite.occupancy import OccupancyGrid, lookup_bits, pack_bits

BOX = [-1.0, -1.0, -1.0, 1.0, 1.0, 1.0]


def cube_density(points):
    """sigma = 5 inside [-0.5, 0.5]^3 (exactly the 8 central cells of a 4^3 grid on BOX), else 0."""
    return torch.where((points.abs() < 0.5).all(-1), torch.full_like(points[:, 0], 5.0), torch.zeros_like(points[:, 0]))


def test_bitfield_packs_eight_cells_per_byte():
    occ = torch.zeros(24, dtype=torch.bool)
    occ[[0, 9, 15, 23]] = True
    bits = pack_bits(occ)
    assert bits.tolist() == [1, 2 + 128, 128]
    assert torch.equal(lookup_bits(bits, torch.arange(24)), occ)


def test_cell_index_by_hand():
    grid = OccupancyGrid([0, 0, 0, 1, 1, 1], resolution=2)
    pts = torch.tensor([[0.25, 0.25, 0.25], [0.75, 0.25, 0.25], [0.25, 0.25, 0.75], [0.9, 0.9, 0.9], [1.5, 0.5, 0.5]])
    assert grid.cell_index(pts).tolist() == [0, 4, 1, 7, -1]
    torch.testing.assert_close(grid.cell_centers(torch.tensor([4])), torch.tensor([[0.75, 0.25, 0.25]]))


def test_ema_update_decay_and_threshold():
    grid = OccupancyGrid(BOX, resolution=4, decay=0.95, density_threshold=10.0)
    assert grid.occupancy_fraction == 1.0  # before any update everything is sampled
    grid.update(lambda p: torch.full_like(p[:, 0], 20.0))
    torch.testing.assert_close(grid.density, torch.full((64,), 20.0))
    grid.update(lambda p: torch.zeros_like(p[:, 0]))
    torch.testing.assert_close(grid.density, torch.full((64,), 19.0))  # max(0.95 * 20, 0)
    assert grid.threshold() == 10.0 and grid.occupancy_fraction == 1.0


def test_grid_finds_exactly_the_occupied_cells():
    grid = OccupancyGrid(BOX, resolution=4)
    frac = grid.update(cube_density, generator=torch.Generator().manual_seed(0))
    assert frac == pytest.approx(8 / 64)
    assert grid.threshold() == pytest.approx(5 * 8 / 64)  # min(mean density 0.625, 10)
    occ = grid.occupied
    assert occ[1:3, 1:3, 1:3].all() and occ.sum() == 8


def test_march_skips_empty_cells_without_changing_the_image():
    grid = OccupancyGrid(BOX, resolution=4)
    grid.update(cube_density, generator=torch.Generator().manual_seed(0))
    o, d = R.camera_rays((8.0, 8.0, 4.0, 4.0), torch.tensor(
        [[1.0, 0, 0, 0.1], [0, 1.0, 0, -0.05], [0, 0, 1.0, -3.0], [0, 0, 0, 1]]), 8, 8)
    o, d = o.reshape(-1, 3), d.reshape(-1, 3)
    step = 0.05
    kept = grid.march(o, d, step)
    full = OccupancyGrid(BOX, resolution=4).march(o, d, step)  # fresh grid: all cells occupied
    assert full.t_starts.numel() == full.n_candidates == kept.n_candidates
    assert 0 < kept.t_starts.numel() < 0.5 * kept.n_candidates

    def render(s):
        mids = 0.5 * (s.t_starts + s.t_ends)
        sig = cube_density(o[s.ray_indices] + mids[:, None] * d[s.ray_indices])
        rgb = torch.ones(sig.shape[0], 3)
        return R.composite_packed(rgb, sig, s.t_starts, s.t_ends, s.ray_indices, o.shape[0], backend="torch")

    a, b = render(kept), render(full)
    torch.testing.assert_close(a.opacity, b.opacity)
    torch.testing.assert_close(a.rgb, b.rgb)
    assert a.opacity.max() > 0.9


def test_march_step_count_by_hand():
    grid = OccupancyGrid(BOX, resolution=2)
    s = grid.march(torch.tensor([[0.0, 0.0, -3.0]]), torch.tensor([[0.0, 0.0, 1.0]]), step_size=0.1)
    assert s.t_starts.numel() == 20  # box depth 2 / step 0.1
    torch.testing.assert_close(s.t_starts[:3], torch.tensor([2.0, 2.1, 2.2]))
    assert (s.ray_indices == 0).all()


def test_state_dict_round_trip_and_errors():
    grid = OccupancyGrid(BOX, resolution=4)
    grid.update(cube_density)
    other = OccupancyGrid(BOX, resolution=4)
    other.load_state_dict(grid.state_dict())
    assert torch.equal(other.bitfield, grid.bitfield) and other.n_updates == 1
    with pytest.raises(ValueError, match="resolution"):
        OccupancyGrid(BOX, resolution=4).load_state_dict(OccupancyGrid(BOX, resolution=2).state_dict())
    with pytest.raises(ValueError, match="even"):
        OccupancyGrid(BOX, resolution=3)
    with pytest.raises(ValueError, match="step_size"):
        grid.march(torch.zeros(1, 3), torch.ones(1, 3), 0.0)
