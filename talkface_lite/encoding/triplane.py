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

A :class:`TriPlaneConfig` holds the settings (one 2D hash grid per plane, all
three alike, and the bound) and :class:`TriPlane` takes it whole. Its preset
:meth:`TriPlaneConfig.er_nerf` (also the field defaults) is ER-NeRF's published
setting (``nerf_triplane/network.py``): per plane 12 levels x 1 feature, base
resolution 64, finest resolution 512, log2 table size 14, bound 1, so
3 x 12 = 36 output features. Points are given in the
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

import dataclasses
import math
from typing import Dict, Union

import torch
from torch import nn

from .hashgrid import DEFAULT_CHUNK, HashGrid, HashGridConfig, check_points

#: plane name -> the two coordinate axes it keeps (ER-NeRF's order)
PLANES = (("xy", (0, 1)), ("yz", (1, 2)), ("xz", (0, 2)))


@dataclasses.dataclass(frozen=True)
class TriPlaneConfig:
    """Hyper-parameters of a tri-plane: the 2D hash grid of each plane (the three are alike) and the box.

    The field defaults are :meth:`er_nerf`. Build small ones for tests from the fields
    (e.g. ``TriPlaneConfig(n_levels=2, log2_hashmap_size=8, base_resolution=4, finest_resolution=8)``),
    change one field of a preset with ``dataclasses.replace``. :attr:`plane` is the
    per-plane :class:`~talkface_lite.encoding.hashgrid.HashGridConfig` (2D, growth factor
    from ``finest_resolution`` as ER-NeRF's ``desired_resolution``); :meth:`describe`
    lists the fields with the derived values (what a run manifest records). Invalid
    values raise a one-line ``ValueError`` that says what to use instead.

    Attributes:
        n_levels: levels per plane (ER-NeRF: 12).
        n_features_per_level: features per level (ER-NeRF: 1).
        log2_hashmap_size: log2 table rows per level (ER-NeRF: 14).
        base_resolution: coarsest vertices per axis (ER-NeRF: 64).
        finest_resolution: finest vertices per axis (ER-NeRF: 512).
        bound: points live in ``[-bound, bound]^3`` (ER-NeRF: 1).
        interpolation: ``"linear"`` or ``"smoothstep"``.
    """

    n_levels: int = 12
    n_features_per_level: int = 1
    log2_hashmap_size: int = 14
    base_resolution: int = 64
    finest_resolution: float = 512
    bound: float = 1.0
    interpolation: str = "linear"

    def __post_init__(self):
        if (
            isinstance(self.bound, bool)
            or not isinstance(self.bound, (int, float))
            or not (math.isfinite(self.bound) and self.bound > 0)
        ):
            raise ValueError(
                f"TriPlane: bound={self.bound!r} must be positive and finite (points live in "
                "[-bound, bound]^3); give the half-size of the box, e.g. bound=1.0"
            )
        object.__setattr__(self, "bound", float(self.bound))
        try:
            self.plane
        except ValueError as exc:  # the same one-line message, named after the tri-plane
            message = str(exc).replace("HashGrid:", "TriPlane (per-plane grid):", 1)
            message = message.replace("16 is the Instant-NGP default", "12 per plane is ER-NeRF's")
            raise ValueError(message) from None

    @classmethod
    def er_nerf(cls) -> "TriPlaneConfig":
        """ER-NeRF's tri-plane: per plane 12 levels x 1 feature, T = 2^14, resolution 64 -> 512, bound 1.

        Source: ER-NeRF (Li et al., ICCV 2023), ``nerf_triplane/network.py``: three 2D
        grids (xy, yz, xz) with ``num_levels=12, level_dim=1, base_resolution=64,
        log2_hashmap_size=14, desired_resolution=512``, ``bound=1``, concatenated to
        36 features. Per plane: levels 0-3 dense (64^2, 78^2, 94^2, 113^2 vertices,
        rounded up to multiples of 8 rows), 8 hashed levels of 2^14 rows:
        162,872 rows x 1 feature, so 488,616 parameters for the three planes.
        """
        return cls(
            n_levels=12,
            n_features_per_level=1,
            log2_hashmap_size=14,
            base_resolution=64,
            finest_resolution=512,
            bound=1.0,
            interpolation="linear",
        )

    @property
    def plane(self) -> HashGridConfig:
        """The 2D hash-grid config of each of the three planes."""
        return HashGridConfig.from_finest(
            2,
            self.finest_resolution,
            n_levels=self.n_levels,
            n_features_per_level=self.n_features_per_level,
            log2_hashmap_size=self.log2_hashmap_size,
            base_resolution=self.base_resolution,
            interpolation=self.interpolation,
        )

    @property
    def parameter_count(self) -> int:
        """Trainable table parameters of the three planes, ``3 * plane.n_params * F``."""
        return 3 * self.plane.parameter_count

    @property
    def n_output_dims(self) -> int:
        return 3 * self.n_levels * self.n_features_per_level

    def describe(self) -> dict:
        """The fields plus derived values, JSON-ready: ``plane`` (:meth:`HashGridConfig.describe` of one
        plane: per-level resolutions, rows, growth factor...), ``parameter_count`` and ``n_output_dims``."""
        return {
            **dataclasses.asdict(self),
            "plane": self.plane.describe(),
            "parameter_count": self.parameter_count,
            "n_output_dims": self.n_output_dims,
        }


class TriPlane(nn.Module):
    """Three 2D hash grids on xy, yz, xz, concatenated: (..., 3) -> (..., 3 * L * F).

    Args:
        config: the tri-plane, a :class:`TriPlaneConfig` (e.g. ``TriPlaneConfig.er_nerf()``);
            kept as ``self.config``; each plane is a ``HashGrid(config.plane)``.
        backend: hash-grid backend, see :class:`HashGrid`.
        dtype: table dtype.
        chunk_size: points per chunk of the PyTorch backend.
        device: where to allocate the tables.

    Explained in notebooks/03_triplane_nerf.ipynb.
    """

    def __init__(
        self,
        config: TriPlaneConfig,
        *,
        backend: str = "auto",
        dtype: torch.dtype = torch.float32,
        chunk_size: int = DEFAULT_CHUNK,
        device=None,
    ):
        super().__init__()
        if not isinstance(config, TriPlaneConfig):
            raise TypeError(
                f"TriPlane: expected a TriPlaneConfig, got {type(config).__name__} {config!r}; build one "
                "with TriPlaneConfig(n_levels=..., ...) or TriPlaneConfig.er_nerf()"
            )
        self.config = config
        plane = config.plane
        kw = dict(backend=backend, dtype=dtype, chunk_size=chunk_size, device=device)
        self.xy = HashGrid(plane, **kw)
        self.yz = HashGrid(plane, **kw)
        self.xz = HashGrid(plane, **kw)

    @property
    def bound(self) -> float:
        """Points live in ``[-bound, bound]^3`` (``config.bound``)."""
        return self.config.bound

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
            out = khc.multi_encode_cpu(
                u, [g.compute_table() for g in grids], grids[0].config, [axes for _, axes in PLANES]
            )
            return out.reshape(*points.shape[:-1], self.n_output_dims)
        feats = self.plane_features(points)
        return torch.cat([feats[name] for name, _ in PLANES], dim=-1)  # (..., 3 L F)

    @staticmethod
    def _fused_cpu(grids, device) -> bool:
        """True when the three planes would all run the CPU kernel with one config and table dtype."""
        return all(g.active_backend(device) == "cpu" for g in grids) and all(
            g.config == grids[0].config and g.dtype == grids[0].dtype for g in grids
        )

    def extra_repr(self) -> str:
        return f"bound={self.bound}, n_output_dims={self.n_output_dims}"


def triplane_param_count(plane: Union[TriPlane, TriPlaneConfig]) -> int:
    """Number of table parameters of a tri-plane: counted on a module's tables, or from a config."""
    if isinstance(plane, TriPlaneConfig):
        return plane.parameter_count
    return sum(g.embeddings().numel() for g in plane.planes().values())


__all__ = ["PLANES", "TriPlane", "TriPlaneConfig", "triplane_param_count"]
