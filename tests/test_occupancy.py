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
    o, d = R.camera_rays(
        (8.0, 8.0, 4.0, 4.0),
        torch.tensor([[1.0, 0, 0, 0.1], [0, 1.0, 0, -0.05], [0, 0, 1.0, -3.0], [0, 0, 0, 1]]),
        8,
        8,
    )
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


def z_ray():
    """One ray along +z through the box centre: enters BOX at t = 2, leaves at t = 4."""
    return torch.tensor([[0.0, 0.0, -3.0]]), torch.tensor([[0.0, 0.0, 1.0]])


def test_grid_is_a_module_whose_buffers_move():
    grid = OccupancyGrid(BOX, resolution=4)
    assert isinstance(grid, torch.nn.Module)
    assert [name for name, _ in grid.named_buffers()] == ["aabb", "density", "bitfield", "n_updates"]
    assert grid.to("cpu") is grid and all(b.device.type == "cpu" for b in grid.buffers())
    assert grid.to(torch.float64) is grid
    # floating buffers follow the dtype, the bitfield and the counter keep their integer types
    assert (grid.aabb.dtype, grid.density.dtype) == (torch.float64, torch.float64)
    assert (grid.bitfield.dtype, grid.n_updates.dtype) == (torch.uint8, torch.int64)
    assert grid.aabb.tolist() == BOX
    grid.update(lambda p: torch.full_like(p[:, 0], 20.0))  # works in float64: max(0.95 * 0, 20) = 20
    assert grid.density.dtype == torch.float64 and grid.density.tolist() == [20.0] * 64
    s = grid.march(*z_ray(), step_size=0.1)  # all cells occupied: box depth 2 / step 0.1 = 20 samples
    assert s.t_starts.dtype == torch.float32 and s.t_starts.numel() == 20
    torch.testing.assert_close(s.t_starts[:3], torch.tensor([2.0, 2.1, 2.2]))
    meta = OccupancyGrid(BOX, resolution=4).to("meta")  # a real move without a GPU
    assert all(b.device.type == "meta" for b in meta.buffers())


def test_state_dict_keys_shapes_and_contents():
    grid = OccupancyGrid(BOX, resolution=4)
    state = grid.state_dict()
    assert list(state) == ["aabb", "density", "bitfield", "n_updates"]  # no hyper-parameters
    assert [tuple(v.shape) for v in state.values()] == [(6,), (64,), (8,), ()]  # R^3 = 64 cells, 64 / 8 bytes
    assert state["bitfield"].tolist() == [255] * 8 and int(state["n_updates"]) == 0
    grid.update(cube_density, generator=torch.Generator().manual_seed(0))
    grid.update(lambda p: torch.zeros_like(p[:, 0]))
    state = grid.state_dict()
    assert int(state["n_updates"]) == 2
    # the 8 central cells keep max(0.95 * 5, 0) = 4.75, every other cell 0
    expect = torch.zeros(4, 4, 4)
    expect[1:3, 1:3, 1:3] = 4.75
    torch.testing.assert_close(state["density"].reshape(4, 4, 4), expect)


def test_saved_and_loaded_grid_marches_the_same_samples(tmp_path):
    gen = torch.Generator().manual_seed(1)
    grid = OccupancyGrid(BOX, resolution=4)
    grid.update(cube_density, generator=gen)
    grid.update(lambda p: torch.zeros_like(p[:, 0]), n_cells=40, generator=gen)
    grid.update(cube_density, n_cells=20, generator=gen)
    torch.save(grid.state_dict(), tmp_path / "grid.pt")
    fresh = OccupancyGrid(BOX, resolution=4)
    fresh.load_state_dict(torch.load(tmp_path / "grid.pt", weights_only=True))
    assert int(fresh.n_updates) == 3 and torch.equal(fresh.density, grid.density)
    # by hand: occupied cells span z in [-0.5, 0.5], i.e. t in [2.5, 3.5]; the 10 steps of 0.1 whose
    # midpoint 2.05 + 0.1 k falls there start at 2.5, 2.6, ..., 3.4
    s = fresh.march(*z_ray(), step_size=0.1)
    torch.testing.assert_close(s.t_starts, 2.5 + 0.1 * torch.arange(10.0))
    torch.testing.assert_close(s.t_ends, s.t_starts + 0.1)
    assert s.ray_indices.tolist() == [0] * 10 and s.n_candidates == 20
    o, d = R.camera_rays(
        (8.0, 8.0, 4.0, 4.0),
        torch.tensor([[1.0, 0, 0, 0.1], [0, 1.0, 0, -0.05], [0, 0, 1.0, -3.0], [0, 0, 0, 1]]),
        8,
        8,
    )
    o, d = o.reshape(-1, 3), d.reshape(-1, 3)
    a = grid.march(o, d, 0.05, jitter=True, generator=torch.Generator().manual_seed(7))
    b = fresh.march(o, d, 0.05, jitter=True, generator=torch.Generator().manual_seed(7))
    assert 0 < a.t_starts.numel() < a.n_candidates  # the grid skips: a fresh (all-occupied) one would not
    assert torch.equal(a.t_starts, b.t_starts) and torch.equal(a.t_ends, b.t_ends)
    assert torch.equal(a.ray_indices, b.ray_indices) and a.n_candidates == b.n_candidates


def test_a_model_holding_the_grid_saves_and_moves_it():
    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(3, 1)
            self.grid = OccupancyGrid(BOX, resolution=2)

    model = Model()
    model.grid.update(lambda p: (p[:, 0] > 0).float() * 20.0)  # the 4 cells with x > 0 (cells 4..7)
    assert model.grid.bitfield.tolist() == [0b11110000]
    state = model.state_dict()
    assert {"grid.aabb", "grid.density", "grid.bitfield", "grid.n_updates"} <= set(state)
    other = Model()
    other.load_state_dict(state)
    assert other.grid.bitfield.tolist() == [0b11110000] and int(other.grid.n_updates) == 1
    assert model.to(torch.float64).grid.density.dtype == torch.float64


def test_loads_a_grid_saved_before_it_was_a_module():
    # what OccupancyGrid.state_dict() returned before: hyper-parameters and an int count beside the tensors
    old = {
        "aabb": torch.tensor(BOX),
        "resolution": 2,
        "decay": 0.95,
        "density_threshold": 10.0,
        "density": torch.tensor([0.0, 0, 0, 0, 20, 20, 20, 20]),
        "bitfield": torch.tensor([0b11110000], dtype=torch.uint8),
        "n_updates": 3,
    }
    grid = OccupancyGrid(BOX, resolution=2)
    grid.load_state_dict(old)
    assert grid.bitfield.tolist() == [0b11110000] and int(grid.n_updates) == 3
    assert grid.density.tolist() == [0.0] * 4 + [20.0] * 4
    with pytest.raises(ValueError, match="resolution 2 does not match this grid's 4"):
        OccupancyGrid(BOX, resolution=4).load_state_dict(old)
    with pytest.raises(ValueError, match=r"rays_o and rays_d must both be \(n_rays, 3\)"):
        grid.march(torch.zeros(3), torch.ones(3), 0.1)
