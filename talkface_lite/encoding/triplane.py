"""Tri-plane hash encoding: three 2D hash grids on the xy, yz and xz planes (paper Eq. 4).

A 3D point is projected onto three axis-aligned planes; each projection is
encoded by its own 2D multiresolution hash grid
(:class:`~talkface_lite.encoding.hashgrid.HashGrid`) and the three feature
vectors are concatenated in the order ``[xy, yz, xz]``::

    f(x, y, z) = H_xy(x, y) ⊕ H_yz(y, z) ⊕ H_xz(x, z)

Why planes: a 2D grid of resolution 512 has 512^2 = 2^18 vertices, so a table
of 2^14 rows per level hashes only 16 vertices per row at the finest level,
where a 3D grid at the same resolution would pile 2^27 / 2^14 = 8192
vertices onto each row. Fewer collisions for the same memory is ER-NeRF's
argument for the tri-plane (notebook 03 measures it).

The defaults are ER-NeRF's published setting (``nerf_triplane/network.py``):
per plane 12 levels x 1 feature, base resolution 64, finest resolution 512,
log2 table size 14, so 3 x 12 = 36 output features. Points are given in the
box ``[-bound, bound]^3`` and mapped to ``[0, 1]`` by ``(p + bound) / (2 bound)``;
like tiny-cuda-nn, points outside the box are not clamped (keep samples in
the box, as ``rendering`` does with its ray-box near/far).

When all three planes run on the C++ CPU kernel, one kernel call encodes the
three planes straight from the ``(N, 3)`` points into the ``(N, 36)`` output
(:func:`talkface_lite.kernels.hashgrid_cpu.multi_encode_cpu`), with the same
bits as three separate calls and a concatenation, without their copies.

Explained in notebooks/02_hash_encoding.ipynb and notebooks/03_triplane_nerf.ipynb.
"""
from __future__ import annotations

from typing import Dict, Optional

import torch
from torch import nn

from .hashgrid import DEFAULT_CHUNK, HashGrid, check_points

#: plane name -> the two coordinate axes it keeps (ER-NeRF's order)
PLANES = (("xy", (0, 1)), ("yz", (1, 2)), ("xz", (0, 2)))


class TriPlane(nn.Module):
    """Three 2D hash grids on xy, yz, xz, concatenated: (..., 3) -> (..., 3 * L * F).

    Args:
        n_levels: levels per plane (ER-NeRF: 12).
        n_features_per_level: features per level (ER-NeRF: 1).
        log2_hashmap_size: log2 table rows per level (ER-NeRF: 14).
        base_resolution: coarsest vertices per axis (ER-NeRF: 64).
        finest_resolution: finest vertices per axis (ER-NeRF: 512).
        bound: points live in ``[-bound, bound]^3`` (ER-NeRF: 1).
        interpolation: ``"linear"`` or ``"smoothstep"``.
        backend: hash-grid backend, see :class:`HashGrid`.
        dtype: table dtype.
        chunk_size: points per chunk of the PyTorch backend.
        device: where to allocate the tables.

    Explained in notebooks/03_triplane_nerf.ipynb.
    """

    def __init__(self, n_levels: int = 12, n_features_per_level: int = 1, log2_hashmap_size: int = 14,
                 base_resolution: int = 64, finest_resolution: float = 512, bound: float = 1.0,
                 interpolation: str = "linear", backend: str = "auto", dtype: torch.dtype = torch.float32,
                 chunk_size: int = DEFAULT_CHUNK, device=None):
        super().__init__()
        if not float(bound) > 0:
            raise ValueError(f"TriPlane: bound={bound} must be positive (points live in [-bound, bound]^3)")
        self.bound = float(bound)
        kw = dict(n_levels=n_levels, n_features_per_level=n_features_per_level, log2_hashmap_size=log2_hashmap_size,
                  base_resolution=base_resolution, finest_resolution=finest_resolution, interpolation=interpolation,
                  backend=backend, dtype=dtype, chunk_size=chunk_size, device=device)
        self.xy = HashGrid(2, **kw)
        self.yz = HashGrid(2, **kw)
        self.xz = HashGrid(2, **kw)

    @property
    def n_output_dims(self) -> int:
        return 3 * self.xy.n_output_dims

    def planes(self) -> Dict[str, HashGrid]:
        """``{"xy": grid, "yz": grid, "xz": grid}`` in concatenation order."""
        return {name: getattr(self, name) for name, _ in PLANES}

    def normalize(self, points: torch.Tensor) -> torch.Tensor:
        """Map (..., 3) points from ``[-bound, bound]`` to ``[0, 1]``."""
        return (points + self.bound) / (2.0 * self.bound)

    def plane_features(self, points: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Per-plane features, each (..., L * F).

        Args:
            points: (..., 3) points in ``[-bound, bound]``.
        """
        if points.shape[-1:] != (3,):
            raise ValueError(f"TriPlane: expected points of shape (..., 3), got {tuple(points.shape)}")
        u = self.normalize(points)  # (..., 3) in [0, 1]
        return {name: getattr(self, name)(u[..., list(axes)]) for name, axes in PLANES}

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        """Encode points (paper Eq. 4).

        Args:
            points: (..., 3) points in ``[-bound, bound]``.

        Returns:
            (..., 3 * n_levels * n_features_per_level) features ``[xy, yz, xz]``.
        """
        if points.shape[-1:] != (3,):
            raise ValueError(f"TriPlane: expected points of shape (..., 3), got {tuple(points.shape)}")
        check_points(points, "TriPlane")
        grids = [getattr(self, name) for name, _ in PLANES]
        if points.numel() and self._fused_cpu(grids, points.device):
            from ..kernels import hashgrid_cpu as khc

            u = self.normalize(points).reshape(-1, 3)  # (N, 3) in [0, 1]
            out = khc.multi_encode_cpu(u, [g.compute_table() for g in grids], grids[0].config, [axes for _, axes in PLANES])
            return out.reshape(*points.shape[:-1], self.n_output_dims)
        feats = self.plane_features(points)
        return torch.cat([feats[name] for name, _ in PLANES], dim=-1)  # (..., 3 L F)

    @staticmethod
    def _fused_cpu(grids, device) -> bool:
        """True when the three planes would all run the CPU kernel with one config and table dtype."""
        return (all(g.active_backend(device) == "cpu" for g in grids)
                and all(g.config == grids[0].config and g.dtype == grids[0].dtype for g in grids))

    def extra_repr(self) -> str:
        return f"bound={self.bound}, n_output_dims={self.n_output_dims}"


def triplane_param_count(plane: Optional[TriPlane] = None, **kw) -> int:
    """Number of table parameters of a tri-plane (given, or built from ``kw`` on the meta device)."""
    if plane is None:
        plane = TriPlane(device="meta", **kw)
    return sum(g.embeddings().numel() for g in plane.planes().values())


__all__ = ["PLANES", "TriPlane", "triplane_param_count"]
