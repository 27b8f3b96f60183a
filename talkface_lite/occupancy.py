"""Occupancy grid for empty-space skipping (Instant-NGP / ER-NeRF style).

A cubic grid of ``resolution^3`` cells over an axis-aligned box keeps a
running density estimate per cell and a packed bitfield of the cells worth
sampling. Training updates it every few steps:

* evaluate the density at one random point inside every cell (or a random
  subset of cells), in chunks;
* ``density = max(density * decay, new)``: an exponential moving *maximum*
  with ``decay = 0.95`` as in ER-NeRF and torch-ngp, so a cell forgets old
  density slowly but sees new density at once;
* a cell is occupied when its density exceeds
  ``min(mean_density, density_threshold)`` (ER-NeRF: threshold 10), i.e. a
  fixed threshold that adapts down while the field is still faint.

The bitfield packs 8 cells per byte (cell ``i`` is bit ``i % 8`` of byte
``i // 8``, cells in x-major order ``(ix * R + iy) * R + iz``): a 128^3 grid
is 256 KiB, as on the GPU.

The grid is a :class:`torch.nn.Module` whose state (box, densities, bitfield,
update count) lives in registered buffers, so ``.to(device)``,
``state_dict()`` and ``load_state_dict()`` work as for any module, also when
the grid is an attribute of a model.

:meth:`OccupancyGrid.march` places uniform steps along each ray inside the
box and keeps only those whose midpoint falls in an occupied cell, returning
packed samples (``ray_indices``) for
:func:`talkface_lite.rendering.composite_packed`. The CUDA marchers of
Instant-NGP skip empty cells by stepping over them (DDA); this PyTorch
version tests every candidate step, which produces the same samples and
saves the same network evaluations, only not the (cheap) candidate tests.

Explained in notebooks/01_volume_rendering.ipynb.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional

import torch

from .progress import tqdm
from .rendering import ray_aabb


class PackedSamples(NamedTuple):
    """Samples kept by :meth:`OccupancyGrid.march`; all ``(n,)`` except counts."""

    t_starts: torch.Tensor
    t_ends: torch.Tensor
    ray_indices: torch.Tensor
    n_candidates: int  # samples the marcher would have taken without skipping


def pack_bits(occupied: torch.Tensor) -> torch.Tensor:
    """Pack a flat bool tensor ``(n_cells,)`` (``n_cells % 8 == 0``) into ``(n_cells // 8,)`` uint8."""
    if occupied.numel() % 8:
        raise ValueError(f"number of cells must be a multiple of 8, got {occupied.numel()}")
    bits = occupied.reshape(-1, 8).to(torch.uint8)
    shifts = torch.arange(8, dtype=torch.uint8, device=occupied.device)
    return (bits << shifts).sum(-1, dtype=torch.uint8)  # distinct bits: the sum is a bitwise OR


def lookup_bits(bitfield: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
    """Look up cells (flat indices, any shape) in a packed bitfield; returns bool of the same shape."""
    byte = bitfield[cells >> 3]
    return ((byte >> (cells & 7).to(torch.uint8)) & 1).bool()


class OccupancyGrid(torch.nn.Module):
    """Density EMA grid + occupancy bitfield over ``aabb``, as a :class:`torch.nn.Module` (as nerfacc's
    ``OccGridEstimator``).

    The state lives in registered buffers (``R`` = ``resolution``, cells in x-major order
    ``(ix * R + iy) * R + iz``), so ``.to(device)``, ``.cuda()``, ``.double()``, ``state_dict()`` /
    ``load_state_dict()`` and the ``state_dict()`` of a module holding the grid cover it:

    * ``aabb``: ``(6,)`` float32, the box ``[xmin, ymin, zmin, xmax, ymax, zmax]`` in world units;
    * ``density``: ``(R^3,)`` float32, running maximum of the density sigma per cell (1 / world unit);
    * ``bitfield``: ``(R^3 // 8,)`` uint8, the packed occupancy (see :func:`pack_bits`), all ones (every
      cell occupied) until the first :meth:`update`;
    * ``n_updates``: ``()`` int64, the number of :meth:`update` calls.

    ``.to(dtype)`` casts ``aabb`` and ``density`` only; ``bitfield`` and ``n_updates`` keep their integer
    types. ``resolution``, ``decay`` and ``density_threshold`` are plain attributes (constructor arguments,
    not in the state dict): :meth:`load_state_dict` expects a grid built with the same resolution, and
    restores a grid that marches exactly the samples of the one saved.

    Args:
        aabb: ``(6,)`` box ``[xmin, ymin, zmin, xmax, ymax, zmax]`` in world units.
        resolution: cells per axis (ER-NeRF: 128); ``resolution^3`` must be a multiple of 8.
        decay: EMA decay per update (ER-NeRF: 0.95).
        density_threshold: occupancy threshold on sigma (ER-NeRF: 10); the effective
            threshold is ``min(mean density, density_threshold)``.
        device: where the buffers are created (move them later with ``.to(device)``).

    Raises:
        ValueError: ``aabb`` is not 6 numbers with max > min, ``resolution < 2`` or ``resolution^3`` not a
            multiple of 8 (an odd resolution), or ``decay`` outside ``[0, 1)``.

    Explained in notebooks/01_volume_rendering.ipynb.
    """

    aabb: torch.Tensor
    density: torch.Tensor
    bitfield: torch.Tensor
    n_updates: torch.Tensor

    def __init__(self, aabb, resolution: int = 128, decay: float = 0.95, density_threshold: float = 10.0, device="cpu"):
        super().__init__()
        box = torch.as_tensor(aabb, dtype=torch.float32, device=device)
        if box.shape != (6,) or bool((box[3:] <= box[:3]).any()):
            raise ValueError(f"aabb must be [xmin, ymin, zmin, xmax, ymax, zmax] with max > min, got {box.tolist()}")
        if resolution < 2 or (resolution**3) % 8:
            raise ValueError(
                f"resolution must be >= 2 with resolution^3 divisible by 8 (use an even number), got {resolution}"
            )
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {decay}")
        self.resolution = int(resolution)
        self.decay = float(decay)
        self.density_threshold = float(density_threshold)
        n = self.resolution**3
        self.register_buffer("aabb", box.clone())  # (6,)
        self.register_buffer("density", torch.zeros(n, dtype=torch.float32, device=device))  # (R^3,)
        self.register_buffer("bitfield", torch.full((n // 8,), 255, dtype=torch.uint8, device=device))  # (R^3/8,)
        self.register_buffer("n_updates", torch.zeros((), dtype=torch.long, device=device))  # ()

    def extra_repr(self) -> str:
        return f"resolution={self.resolution}, decay={self.decay}, density_threshold={self.density_threshold}"

    # -- geometry ---------------------------------------------------------------------------------
    @property
    def cell_size(self) -> torch.Tensor:
        """``(3,)`` edge lengths of one cell in world units (dtype and device of ``aabb``)."""
        return (self.aabb[3:] - self.aabb[:3]) / self.resolution

    def cell_index(self, points: torch.Tensor) -> torch.Tensor:
        """Flat cell index ``(...,)`` (int64) of points ``(..., 3)`` in world units; points outside the box get ``-1``.

        Computed in the dtype of ``points``; they must be on the grid's device (else torch raises a RuntimeError).
        """
        box = self.aabb.to(points.dtype)
        rel = (points - box[:3]) / (box[3:] - box[:3])  # (..., 3) in [0, 1] inside
        inside = ((rel >= 0) & (rel < 1)).all(-1)
        ijk = (rel * self.resolution).floor().long().clamp(0, self.resolution - 1)
        flat = (ijk[..., 0] * self.resolution + ijk[..., 1]) * self.resolution + ijk[..., 2]
        return torch.where(inside, flat, torch.full_like(flat, -1))

    def cell_centers(self, cells: Optional[torch.Tensor] = None) -> torch.Tensor:
        """World positions ``(n, 3)`` of the centres of flat ``cells (n,)`` (all ``R^3`` cells by default)."""
        r = self.resolution
        cells = torch.arange(r**3, device=self.aabb.device) if cells is None else cells
        ijk = torch.stack([cells // (r * r), (cells // r) % r, cells % r], -1).to(self.aabb.dtype)
        return self.aabb[:3] + (ijk + 0.5) * self.cell_size

    # -- state ------------------------------------------------------------------------------------
    @property
    def occupied(self) -> torch.Tensor:
        """Bool ``(R, R, R)`` occupancy unpacked from the bitfield (x, y, z order)."""
        cells = torch.arange(self.resolution**3, device=self.bitfield.device)
        return lookup_bits(self.bitfield, cells).reshape(self.resolution, self.resolution, self.resolution)

    @property
    def occupancy_fraction(self) -> float:
        """Fraction of occupied cells, in ``[0, 1]``."""
        return float(self.occupied.float().mean())

    def threshold(self) -> float:
        """Effective threshold ``min(mean density, density_threshold)`` on sigma (1 / world unit)."""
        return min(float(self.density.mean()), self.density_threshold)

    @torch.no_grad()
    def update(
        self,
        density_fn: Callable[[torch.Tensor], torch.Tensor],
        n_cells: Optional[int] = None,
        chunk: int = 65536,
        generator: Optional[torch.Generator] = None,
        progress: bool = False,
    ) -> float:
        """One EMA update from ``density_fn``, then rebuild the bitfield (in place) and count the update.

        Args:
            density_fn: maps points ``(m, 3)`` in world units (on the grid's device, dtype of ``aabb``) to
                densities ``(m,)`` (or ``(m, 1)``).
            n_cells: update only this many random cells (``None``: all cells).
            chunk: points per ``density_fn`` call.
            generator: optional CPU RNG for the random cells and in-cell jitter.
            progress: show a tqdm bar over chunks.

        Returns:
            The fraction of occupied cells after the update.

        Raises:
            RuntimeError: ``density_fn`` returns a number of values other than the points it was given.
        """
        total = self.resolution**3
        dev = self.density.device
        if n_cells is None or n_cells >= total:
            cells = torch.arange(total, device=dev)
        else:
            cells = torch.randperm(total, generator=generator)[:n_cells].to(dev)
        jitter = torch.rand((cells.numel(), 3), generator=generator).to(dev) - 0.5  # (n, 3) within the cell
        points = self.cell_centers(cells) + jitter * self.cell_size
        new = torch.empty(cells.numel(), dtype=self.density.dtype, device=dev)
        for lo in tqdm(range(0, cells.numel(), chunk), desc="occupancy update", disable=not progress, leave=False):
            sig = density_fn(points[lo : lo + chunk])
            new[lo : lo + chunk] = sig.reshape(-1).to(new.dtype)
        self.density[cells] = torch.maximum(self.density[cells] * self.decay, new)
        self.bitfield.copy_(pack_bits(self.density > self.threshold()))
        self.n_updates.add_(1)
        return self.occupancy_fraction

    def _load_from_state_dict(
        self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
    ):
        # torch calls this from load_state_dict (also when the grid is inside another module) with a copy of
        # the state. Grids saved before the grid was a module had plain "resolution", "decay" and
        # "density_threshold" entries and an int "n_updates" beside the same tensors: converted here.
        if prefix + "resolution" in state_dict:
            for key in ("resolution", "decay", "density_threshold"):
                state_dict.pop(prefix + key, None)
            if prefix + "n_updates" in state_dict and not torch.is_tensor(state_dict[prefix + "n_updates"]):
                state_dict[prefix + "n_updates"] = torch.tensor(int(state_dict[prefix + "n_updates"]))
        density = state_dict.get(prefix + "density")
        if torch.is_tensor(density) and density.numel() != self.resolution**3:
            res = round(density.numel() ** (1 / 3))
            raise ValueError(
                f"grid resolution {res} does not match this grid's {self.resolution}: build the "
                f"OccupancyGrid with resolution={res} to load this state"
            )
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )

    # -- marching ---------------------------------------------------------------------------------
    @torch.no_grad()
    def march(
        self,
        rays_o: torch.Tensor,
        rays_d: torch.Tensor,
        step_size: float,
        near: float = 0.0,
        jitter: bool = False,
        generator: Optional[torch.Generator] = None,
    ) -> PackedSamples:
        """Uniform steps through the box, keeping those whose midpoint lies in an occupied cell.

        Args:
            rays_o, rays_d: ``(n_rays, 3)`` origins (world units) and unit directions, on the grid's device;
                the samples are computed in their dtype.
            step_size: distance between consecutive samples (world units).
            near: minimum distance from the origin (world units).
            jitter: shift each ray's steps by a random fraction of a step (training).
            generator: optional CPU RNG for the jitter.

        Returns:
            :class:`PackedSamples` sorted by ray: ``t_starts``, ``t_ends`` ``(n,)`` distances along the ray
            (dtype of ``rays_o``), ``ray_indices`` ``(n,)`` int64, and ``n_candidates`` the number of in-box
            steps before skipping.

        Raises:
            ValueError: ``step_size <= 0``, or ``rays_o`` / ``rays_d`` not both ``(n_rays, 3)``.
            RuntimeError: rays on another device than the grid (from torch).

        Explained in notebooks/01_volume_rendering.ipynb.
        """
        if step_size <= 0:
            raise ValueError(f"step_size must be positive, got {step_size}")
        if rays_o.ndim != 2 or rays_o.shape[-1] != 3 or rays_d.shape != rays_o.shape:
            raise ValueError(
                f"rays_o and rays_d must both be (n_rays, 3), got {tuple(rays_o.shape)} and {tuple(rays_d.shape)}"
            )
        t_near, t_far, hit = ray_aabb(rays_o, rays_d, self.aabb.to(rays_o), min_near=near)
        n_max = int(((t_far - t_near) / step_size).ceil().max().item()) if bool(hit.any()) else 0
        if n_max == 0:
            empty = rays_o.new_zeros(0)
            return PackedSamples(empty, empty, torch.zeros(0, dtype=torch.long, device=rays_o.device), 0)
        offset = torch.rand((rays_o.shape[0], 1), generator=generator).to(rays_o) if jitter else 0.0
        k = torch.arange(n_max, device=rays_o.device, dtype=rays_o.dtype)
        starts = t_near[:, None] + (k + offset) * step_size  # (n_rays, n_max)
        ends = torch.minimum(starts + step_size, t_far[:, None])
        valid = starts < t_far[:, None]  # inside the box
        mids = 0.5 * (starts + ends)
        cells = self.cell_index(rays_o[:, None, :] + mids[..., None] * rays_d[:, None, :])  # (n_rays, n_max)
        keep = valid & (cells >= 0)
        keep[keep.clone()] = lookup_bits(self.bitfield, cells[keep])
        ray_indices = torch.arange(rays_o.shape[0], device=rays_o.device)[:, None].expand_as(keep)[keep]
        return PackedSamples(starts[keep], ends[keep], ray_indices, int(valid.sum()))


__all__ = ["OccupancyGrid", "PackedSamples", "pack_bits", "lookup_bits"]
