"""Multiresolution hash encoding (Instant-NGP) for 1-4D inputs, as a PyTorch reference.

This module is the *specification* of our hash encoding: the CUDA kernel in
``talkface_lite/kernels/hashgrid.cu``, the C++ CPU kernel in
``talkface_lite/kernels/hashgrid_cpu.cpp`` and the tiny-cuda-nn adapter are
tested against it. It runs anywhere (CPU included), is chunked so that 2^22 points
fit in a few hundred MiB, and has an exact hand-written backward (checked by
``torch.autograd.gradcheck`` in float64).

Semantics (tiny-cuda-nn ``HashGrid``, ``encodings/grid.h``), for level ``l``:

* ``scale_l = 2^(l * log2(per_level_scale)) * base_resolution - 1`` computed in
  float32 as tiny-cuda-nn does, ``res_l = ceil(scale_l) + 1`` vertices per axis;
* ``pos = scale_l * x + 0.5``, ``cell = floor(pos)``, ``frac = pos - cell``;
  inputs are nominally in [0, 1] and are **not clamped**;
* the level owns ``size_l = min(next_multiple_of_8(res_l^D), 2^log2_hashmap_size)``
  rows of the table; rows of all levels are stored one after the other in a
  single ``(n_params, F)`` table (the same memory layout as tiny-cuda-nn, so
  weights can be copied between the two);
* a vertex ``c`` gets the dense index ``sum_d c_d * res_l^d`` when ``res_l^D``
  fits in the level (``res_l^D <= size_l``), else the hash
  ``XOR_d (c_d * prime_d)`` with primes ``1, 2654435761, 805459861, 3674653429``;
  all arithmetic wraps in uint32 (emulated with int64 and ``& 0xffffffff``), and
  the index is taken modulo ``size_l``;
* the output is the d-linear interpolation (or smoothstep ``f^2 (3 - 2f)``) of
  the ``2^D`` corner features; levels are concatenated level-major:
  ``out[:, l * F + f]``;
* parameters are initialised ``U(-1e-4, 1e-4)``.

Note:
    Like tiny-cuda-nn, the dense index is not clamped: where ``frac(scale_l)``
    is 0 or >= 0.5, points near ``x = 1`` reach vertex ``res_l`` along an axis
    and the dense index spills into the next row (weight at most 0.5 at the
    border). We keep this on purpose so results compare with tiny-cuda-nn.
    The one deliberate difference: ``pos`` is computed as a rounded multiply
    then a rounded add (tiny-cuda-nn uses a fused ``fmaf``), so our CUDA kernel
    and this reference agree bit for bit on cell indices; the two roundings
    differ from ``fmaf`` only in the last bit, i.e. only for points within
    1e-7 of a cell border.

Explained in notebooks/02_hash_encoding.ipynb.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import List, Optional

import numpy as np
import torch
from torch import nn

from ..checks import require_finite

#: tiny-cuda-nn's hash primes, one per input dimension (``coherent_prime_hash``).
PRIMES = (1, 2654435761, 805459861, 3674653429)
UINT32_MASK = 0xFFFFFFFF
#: ``auto`` picks ``cuda`` for CUDA tensors and ``cpu`` for CPU tensors when that kernel builds, else ``torch``.
BACKENDS = ("auto", "torch", "cpu", "cuda", "tcnn")
INTERPOLATIONS = ("linear", "smoothstep")
#: points per chunk of the PyTorch reference: bounds peak memory (~40 MiB per chunk at 16 levels)
DEFAULT_CHUNK = 1 << 16
_MAX_PARAMS = (1 << 32) // 2 - 1  # tiny-cuda-nn's cap on a level's dense size


@dataclasses.dataclass(frozen=True)
class LevelInfo:
    """Geometry of one level of a hash grid.

    Attributes:
        level: level number, 0 = coarsest.
        scale: ``2^(l log2 b) * N_min - 1`` (float32 value, as tiny-cuda-nn).
        resolution: vertices per axis, ``ceil(scale) + 1``.
        n_vertices: ``resolution ** n_input_dims``.
        size: table rows owned by the level (a multiple of 8, at most ``2^log2_hashmap_size``).
        offset: first row of the level in the flat table.
        hashed: ``True`` when the vertices do not fit and are hashed.
    """

    level: int
    scale: float
    resolution: int
    n_vertices: int
    size: int
    offset: int
    hashed: bool


@dataclasses.dataclass(frozen=True)
class HashGridConfig:
    """Hyper-parameters of a multiresolution hash grid (tiny-cuda-nn names); :class:`HashGrid` takes one whole.

    Build one with a named preset, :meth:`instant_ngp`, or from its fields (cheap: no
    tensor is allocated), e.g. ``HashGridConfig(2, n_levels=4, log2_hashmap_size=10)``
    for a small test grid; use :meth:`from_finest` to give the finest resolution
    instead of the growth factor, as ER-NeRF does (``desired_resolution``), and
    ``dataclasses.replace(config, field=value)`` to change one field of a preset.
    :meth:`describe` lists the fields with the derived per-level geometry (what a
    run manifest records). Invalid values raise a one-line ``ValueError`` that
    says what to use instead.

    Attributes:
        n_input_dims: D, 2 for planes or 3 for volumes (1 and 4: PyTorch backend only).
        n_levels: number of levels L.
        n_features_per_level: F (1, 2, 4, 8 have CUDA and CPU kernels).
        log2_hashmap_size: log2 of the largest level's table rows T.
        base_resolution: N_min, vertices per axis of the coarsest level.
        per_level_scale: growth factor b between levels.
        interpolation: ``"linear"`` or ``"smoothstep"``.
    """

    n_input_dims: int
    n_levels: int = 16
    n_features_per_level: int = 2
    log2_hashmap_size: int = 19
    base_resolution: int = 16
    per_level_scale: float = 2.0
    interpolation: str = "linear"

    def __post_init__(self):
        def bad(what, fix):
            raise ValueError(f"HashGrid: {what}; {fix}")

        for name in ("n_input_dims", "n_levels", "n_features_per_level", "log2_hashmap_size", "base_resolution"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                bad(f"{name}={value!r} is not an integer", f"pass {name} as a whole number")
            object.__setattr__(self, name, int(value))
        if isinstance(self.per_level_scale, bool) or not isinstance(self.per_level_scale, (int, float, np.number)):
            bad(
                f"per_level_scale={self.per_level_scale!r} is not a number",
                "use a growth factor >= 1 (2.0 is the default)",
            )
        if self.n_input_dims not in (1, 2, 3, 4):
            bad(
                f"n_input_dims={self.n_input_dims!r} is not supported",
                "use 2 (planes) or 3 (volumes); 1 and 4 work in the PyTorch backend",
            )
        if not 1 <= self.n_levels <= 32:
            bad(f"n_levels={self.n_levels} is out of range", "use 1..32 levels (16 is the Instant-NGP default)")
        if self.n_features_per_level < 1:
            bad(
                f"n_features_per_level={self.n_features_per_level}",
                "use a positive number (1, 2, 4 or 8 have CUDA kernels)",
            )
        if not 1 <= self.log2_hashmap_size <= 30:
            bad(
                f"log2_hashmap_size={self.log2_hashmap_size} is out of range",
                "use 1..30 (19 is the Instant-NGP default, 14 ER-NeRF's)",
            )
        if self.base_resolution < 2:
            bad(f"base_resolution={self.base_resolution}", "use at least 2 vertices per axis (16 is the default)")
        if not self.per_level_scale >= 1.0:
            bad(f"per_level_scale={self.per_level_scale}", "use a growth factor >= 1 (2.0 is the default)")
        if self.interpolation not in INTERPOLATIONS:
            bad(f"interpolation={self.interpolation!r} is unknown", f"use one of {INTERPOLATIONS}")
        finest = self.levels()[-1].scale
        if finest > 2**30:
            bad(f"the finest level has scale {finest:.3g}", "lower per_level_scale or n_levels")
        object.__setattr__(self, "per_level_scale", float(self.per_level_scale))

    @classmethod
    def instant_ngp(cls, n_input_dims: int = 3) -> "HashGridConfig":
        """Instant-NGP's grid: 16 levels x 2 features, T = 2^19, N_min = 16, b = 2.

        Source: tiny-cuda-nn's ``HashGrid`` defaults (``n_levels`` 16,
        ``n_features_per_level`` 2, ``log2_hashmap_size`` 19, ``base_resolution``
        16, ``per_level_scale`` 2.0), within the ranges of Instant-NGP's Table 1
        (Müller et al. 2022: L = 16, F = 2, N_min = 16, T in 2^14..2^24,
        N_max in 512..524288); b = 2 over 16 levels is ``N_max = 16 * 2^15 = 524288``.
        In 3D: levels 0-2 dense (16^3, 32^3, 64^3 rows), 13 hashed levels of
        2^19 rows, 7,114,752 rows x 2 = 14,229,504 parameters, 32 output features.
        """
        return cls(
            n_input_dims,
            n_levels=16,
            n_features_per_level=2,
            log2_hashmap_size=19,
            base_resolution=16,
            per_level_scale=2.0,
            interpolation="linear",
        )

    @classmethod
    def from_finest(
        cls, n_input_dims: int, finest_resolution: float, n_levels: int = 16, base_resolution: int = 16, **kw
    ) -> "HashGridConfig":
        """Config whose growth factor takes ``base_resolution`` to ``finest_resolution``.

        ``per_level_scale = 2^(log2(finest / base) / (n_levels - 1))`` (ER-NeRF's rule).
        """
        if finest_resolution < base_resolution:
            raise ValueError(
                f"HashGrid: finest_resolution={finest_resolution} is below base_resolution={base_resolution}; "
                "give a finest resolution >= the base resolution"
            )
        pls = 1.0 if n_levels == 1 else float(np.exp2(np.log2(finest_resolution / base_resolution) / (n_levels - 1)))
        return cls(n_input_dims, n_levels=n_levels, base_resolution=base_resolution, per_level_scale=pls, **kw)

    def levels(self) -> List[LevelInfo]:
        """Per-level geometry (scale, resolution, table rows, dense or hashed)."""
        out, offset = [], 0
        log2_b = np.float32(np.log2(np.float32(self.per_level_scale)))
        for lvl in range(self.n_levels):
            scale = np.exp2(np.float32(lvl) * log2_b, dtype=np.float32) * np.float32(self.base_resolution) - np.float32(
                1.0
            )
            scale = float(np.float32(scale))
            res = int(math.ceil(scale)) + 1
            n_vert = res**self.n_input_dims
            size = min(n_vert, _MAX_PARAMS)
            size = (size + 7) // 8 * 8
            size = min(size, 1 << self.log2_hashmap_size)
            out.append(LevelInfo(lvl, scale, res, n_vert, size, offset, n_vert > size))
            offset += size
        return out

    @property
    def n_params(self) -> int:
        """Rows of the flat table (sum of level sizes); parameters = ``n_params * F``."""
        last = self.levels()[-1]
        return last.offset + last.size

    @property
    def parameter_count(self) -> int:
        """Trainable table parameters, ``n_params * n_features_per_level``."""
        return self.n_params * self.n_features_per_level

    @property
    def n_output_dims(self) -> int:
        return self.n_levels * self.n_features_per_level

    def describe(self) -> dict:
        """The fields plus the derived geometry, JSON-ready (what ``run.record`` stores in a manifest).

        Returns:
            ``dataclasses.asdict(self)`` plus ``resolutions``, ``scales``, ``level_rows`` and
            ``hashed`` (one entry per level), ``first_hashed_level`` (None when all are dense),
            ``table_rows`` (``n_params``), ``parameter_count`` and ``n_output_dims``.
        """
        lv = self.levels()
        return {
            **dataclasses.asdict(self),
            "resolutions": [lvl.resolution for lvl in lv],
            "scales": [lvl.scale for lvl in lv],
            "level_rows": [lvl.size for lvl in lv],
            "hashed": [lvl.hashed for lvl in lv],
            "first_hashed_level": next((lvl.level for lvl in lv if lvl.hashed), None),
            "table_rows": self.n_params,
            "parameter_count": self.parameter_count,
            "n_output_dims": self.n_output_dims,
        }


# ------------------------------------------------------------------ index maths


def mul_u32(a: torch.Tensor, b) -> torch.Tensor:
    """``(a * b) mod 2^32`` for int64 ``a`` and ``b`` in [0, 2^32), without int64 overflow.

    Args:
        a: int64 tensor with values in [0, 2^32).
        b: python int or int64 tensor (broadcastable) with values in [0, 2^32).
    """
    b_lo = b & 0xFFFF
    b_hi = b >> 16
    return (a * b_lo + (((a * b_hi) & 0xFFFF) << 16)) & UINT32_MASK


class _Group:
    """Constants of a run of levels that are all dense or all hashed, as tensors on one device.

    Dense levels are a prefix of the levels (resolution grows with the level),
    hashed ones the rest, so each group is a contiguous slice ``[start, stop)``.
    """

    def __init__(self, levels: List[LevelInfo], D: int, device, dtype):
        self.start, self.stop = levels[0].level, levels[-1].level + 1
        self.hashed = levels[0].hashed
        self.scale = torch.tensor([lv.scale for lv in levels], dtype=torch.float32).to(
            device=device, dtype=dtype
        )  # (Lg,)
        self.size = torch.tensor([lv.size for lv in levels], dtype=torch.int64, device=device)  # (Lg,)
        self.offset = torch.tensor([lv.offset for lv in levels], dtype=torch.int64, device=device)  # (Lg,)
        # hashed levels own exactly 2^T rows: "mod size" is a bit mask
        self.mask = (levels[0].size - 1) if self.hashed else None
        mult = [PRIMES[d] for d in range(D)] if self.hashed else None
        strides = [[mult[d] if self.hashed else (lv.resolution**d) & UINT32_MASK for d in range(D)] for lv in levels]
        self.mult = torch.tensor(strides, dtype=torch.int64, device=device)  # (Lg, D): primes or dense strides


def _groups(config: HashGridConfig, device, dtype) -> List[_Group]:
    levels = config.levels()
    dense = [lv for lv in levels if not lv.hashed]
    hashed = [lv for lv in levels if lv.hashed]
    return [_Group(g, config.n_input_dims, device, dtype) for g in (dense, hashed) if g]


def _corner_terms(cell: torch.Tensor, grp: _Group):
    """Per-axis index terms ``c_d * mult_d`` of the low (0) and high (1) corner.

    Args:
        cell: (D, n, Lg) int64 cell coordinates, wrapped to uint32.
    Returns:
        ``terms[b][d]``: (n, Lg) int64, exact products when every coordinate is
        below 2^31 (the usual case: then they fit in int64 and are reduced once
        per corner), else already reduced modulo 2^32 by :func:`mul_u32`.
    """
    D = cell.shape[0]
    exact = bool(cell.numel() == 0 or int(cell.max()) < (1 << 31) - 1)
    terms = [[], []]
    for b in (0, 1):
        for d in range(D):
            c = cell[d] + 1 if b else cell[d]  # (n, Lg)
            if b and not exact:
                c = c & UINT32_MASK
            if grp.hashed and d == 0:  # prime 1
                terms[b].append(c)
            else:
                m = grp.mult[:, d]  # (Lg,)
                terms[b].append(c * m if exact else mul_u32(c, m))
    return terms


def _finish_index(idx: torch.Tensor, grp: _Group) -> torch.Tensor:
    if grp.hashed:
        idx = idx & grp.mask  # XOR then mod 2^T (also drops bits above 32)
    else:
        idx = torch.remainder(idx & UINT32_MASK, grp.size)  # uint32 wrap, then mod size (edge vertices alias)
    return idx + grp.offset


def _corner_index(bits, terms, grp: _Group) -> torch.Tensor:
    """Flat table row of one corner for every (point, level of the group): (n, Lg) int64."""
    idx = terms[bits[0]][0]
    for d in range(1, len(bits)):
        idx = (idx ^ terms[bits[d]][d]) if grp.hashed else (idx + terms[bits[d]][d])
    return _finish_index(idx, grp)


def _all_corners(terms, w0, w1, grp: _Group):
    """Yield ``(bits, idx, w)`` for the 2^D corners, sharing partial XORs/sums and weight products.

    Args:
        terms: from :func:`_corner_terms`.
        w0, w1: (D, n, Lg) weights of the low / high corner per axis.
    Yields:
        bits (tuple of 0/1 per axis), idx (n, Lg) int64 table rows, w (n, Lg) corner weight.
    """
    D = len(terms[0])
    partial = [((0,), terms[0][0], w0[0]), ((1,), terms[1][0], w1[0])]
    for d in range(1, D):
        nxt = []
        for bits, idx, w in partial:
            for b in (0, 1):
                t = terms[b][d]
                nxt.append((bits + (b,), (idx ^ t) if grp.hashed else (idx + t), w * (w1[d] if b else w0[d])))
        partial = nxt
    for bits, idx, w in partial:
        yield bits, _finish_index(idx, grp), w


def _cells(x: torch.Tensor, grp: _Group, smoothstep: bool):
    """Cell coordinates, weight of the high corner per axis, and its derivative.

    Args:
        x: (n, D) inputs in the compute dtype.
    Returns:
        cell (D, n, Lg) int64, w1 (D, n, Lg), dw1 (D, n, Lg) = d w1 / d pos (None: 1).
        Axis-major so that every per-axis slice is contiguous.
    """
    pos = x.t()[:, :, None] * grp.scale[None, None, :]  # (D, n, Lg) rounded multiply ...
    pos = pos + 0.5  # ... then rounded add (see module Note)
    fl = torch.floor(pos)
    frac = pos - fl
    cell = fl.to(torch.int64) & UINT32_MASK  # (uint32_t)(int)floor(pos)
    if smoothstep:
        w1 = frac * frac * (3.0 - 2.0 * frac)
        dw1 = 6.0 * frac * (1.0 - frac)
    else:
        w1 = frac
        dw1 = None  # 1
    return cell, w1, dw1


def _corners(D: int):
    return [tuple((c >> d) & 1 for d in range(D)) for c in range(1 << D)]


def _compute_dtype(x: torch.Tensor, table: torch.Tensor) -> torch.dtype:
    return torch.float64 if torch.float64 in (x.dtype, table.dtype) else torch.float32


def _gather(table: torch.Tensor, idx: torch.Tensor, dtype) -> torch.Tensor:
    """``table[idx]`` as (m, F) in ``dtype``; rows of 8 bytes are gathered as one int64 (faster on CPU)."""
    F = table.shape[1]
    if table.is_contiguous() and F * table.element_size() == 8 and not table.is_cuda:
        rows = table.view(-1).view(torch.int64).index_select(0, idx)  # (m,)
        return rows.view(table.dtype).view(-1, F).to(dtype)
    return table.index_select(0, idx).to(dtype)


def _forward_chunk(x, table, config, groups):
    n, L, F = x.shape[0], config.n_levels, config.n_features_per_level
    out = torch.zeros(n, L, F, dtype=x.dtype, device=x.device)  # (n, L, F)
    for grp in groups:
        Lg = grp.stop - grp.start
        cell, w1, _ = _cells(x, grp, config.interpolation == "smoothstep")  # (D, n, Lg)
        terms = _corner_terms(cell, grp)
        acc = out[:, grp.start : grp.stop]  # (n, Lg, F) view
        for _, idx, w in _all_corners(terms, 1.0 - w1, w1, grp):
            val = _gather(table, idx.reshape(-1), x.dtype).view(n, Lg, F)  # (n, Lg, F)
            acc += w[..., None] * val
    return out.reshape(n, L * F)


def _backward_chunk(x, table, g, config, groups, grad_table, need_x):
    """Accumulate d loss / d table into ``grad_table``; return d loss / d x (n, D) or None."""
    n, L, F, D = x.shape[0], config.n_levels, config.n_features_per_level, config.n_input_dims
    g = g.reshape(n, L, F)
    gx = torch.zeros(n, D, dtype=x.dtype, device=x.device) if need_x else None
    for grp in groups:
        Lg = grp.stop - grp.start
        cell, w1, dw1 = _cells(x, grp, config.interpolation == "smoothstep")  # (D, n, Lg)
        w0 = 1.0 - w1
        terms = _corner_terms(cell, grp)
        gg = g[:, grp.start : grp.stop]  # (n, Lg, F)
        gpos = torch.zeros(D, n, Lg, dtype=x.dtype, device=x.device) if need_x else None
        for bits, idx, w in _all_corners(terms, w0, w1, grp):
            idx = idx.reshape(-1)  # (n * Lg,)
            grad_table.index_add_(0, idx, (w[..., None] * gg).reshape(-1, F))
            if need_x:
                val = _gather(table, idx, x.dtype).view(n, Lg, F)
                dot = (val * gg).sum(-1)  # (n, Lg)
                for d in range(D):
                    # d w / d w1_d = +-(product of the other axes' weights)
                    others = dot if bits[d] else -dot
                    for e in range(D):
                        if e != d:
                            others = others * (w1[e] if bits[e] else w0[e])
                    gpos[d] += others
        if need_x:
            if dw1 is not None:
                gpos = gpos * dw1
            gx += (gpos * grp.scale[None, None, :]).sum(2).t()  # d pos / d x = scale -> (n, D)
    return gx


class _HashEncodeTorch(torch.autograd.Function):
    """Chunked forward; the backward recomputes indices chunk by chunk (nothing big is saved)."""

    @staticmethod
    def forward(ctx, x, table, config, chunk_size):
        cdt = _compute_dtype(x, table)
        groups = _groups(config, x.device, cdt)
        xc = x.to(cdt)
        outs = [_forward_chunk(xc[i : i + chunk_size], table, config, groups) for i in range(0, x.shape[0], chunk_size)]
        if not outs:  # no points: an empty batch, not an error
            outs = [xc.new_zeros((0, config.n_output_dims))]
        out = torch.cat(outs) if len(outs) != 1 else outs[0]
        ctx.save_for_backward(x, table)
        ctx.config, ctx.chunk_size = config, chunk_size
        return out.to(table.dtype)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        x, table = ctx.saved_tensors
        config, chunk_size = ctx.config, ctx.chunk_size
        cdt = _compute_dtype(x, table)
        groups = _groups(config, x.device, cdt)
        xc, g = x.to(cdt), grad_out.to(cdt)
        need_x = ctx.needs_input_grad[0]
        grad_table = torch.zeros(table.shape, dtype=cdt, device=table.device)
        gxs = []
        for i in range(0, x.shape[0], chunk_size):
            gx = _backward_chunk(
                xc[i : i + chunk_size], table, g[i : i + chunk_size], config, groups, grad_table, need_x
            )
            gxs.append(gx)
        grad_x = (torch.cat(gxs) if gxs else torch.zeros_like(xc)).to(x.dtype) if need_x else None
        grad_t = grad_table.to(table.dtype) if ctx.needs_input_grad[1] else None
        return grad_x, grad_t, None, None


def hash_encode(
    x: torch.Tensor, table: torch.Tensor, config: HashGridConfig, chunk_size: int = DEFAULT_CHUNK
) -> torch.Tensor:
    """Encode points with the PyTorch reference (differentiable in ``x`` and ``table``).

    Args:
        x: (n_points, n_input_dims) coordinates, nominally in [0, 1].
        table: (config.n_params, n_features_per_level) feature table (all levels).
        config: the grid's hyper-parameters.
        chunk_size: points processed at once; bounds memory, not results.

    Returns:
        (n_points, n_levels * n_features_per_level) features in ``table.dtype``.

    Note:
        Computation runs in float64 if ``x`` or ``table`` is float64, else in
        float32 (float16 tables are gathered and upcast).
    """
    _check_inputs(x, table, config)
    if chunk_size < 1:
        raise ValueError(f"chunk_size={chunk_size} must be a positive number of points")
    return _HashEncodeTorch.apply(x, table, config, int(chunk_size))


def check_points(x: torch.Tensor, who: str = "HashGrid") -> None:
    """Refuse points holding NaN or inf (every backend calls this before encoding)."""
    require_finite(
        x,
        f"{who}: points",
        "the encoders need finite coordinates; check the rays (rays_o, rays_d), "
        "poses and sample positions that produced them",
    )


def _check_inputs(x: torch.Tensor, table: torch.Tensor, config: HashGridConfig) -> None:
    if x.dim() != 2 or x.shape[1] != config.n_input_dims:
        raise ValueError(
            f"HashGrid: expected points of shape (n_points, {config.n_input_dims}), got {tuple(x.shape)}; "
            f"reshape to (-1, {config.n_input_dims})"
        )
    if not x.is_floating_point():
        raise TypeError(f"HashGrid: points must be floating point in [0, 1], got {x.dtype}; convert with x.float()")
    if tuple(table.shape) != (config.n_params, config.n_features_per_level):
        raise ValueError(
            f"HashGrid: table has shape {tuple(table.shape)}, expected "
            f"({config.n_params}, {config.n_features_per_level}) for this config"
        )
    if x.device != table.device:
        raise ValueError(
            f"HashGrid: points are on {x.device} but the table is on {table.device}; "
            f"move one of them (e.g. x.to({str(table.device)!r}))"
        )
    check_points(x)


# ------------------------------------------------------------------ the module


class HashGrid(nn.Module):
    """Multiresolution hash encoding: (N, D) in [0, 1] -> (N, n_levels * F).

    Args:
        config: the grid, a :class:`HashGridConfig` (e.g. ``HashGridConfig.instant_ngp()``,
            ``HashGridConfig.from_finest(2, 512, n_levels=12, ...)``); kept as ``self.config``.
        backend: ``"auto"`` (our CUDA kernel for CUDA inputs and our C++ CPU
            kernel for CPU inputs when they build, else PyTorch), ``"torch"``
            (the reference, forced), ``"cpu"`` or ``"cuda"`` (that kernel; falls
            back to PyTorch with one :class:`~talkface_lite.kernels.KernelFallbackWarning`
            when it cannot be built or does not cover the grid; inputs on the
            other device type run on PyTorch), or ``"tcnn"`` (tiny-cuda-nn;
            raises ``RuntimeError`` when ``tinycudann`` does not import, because
            a silent substitute would mislabel comparisons).
        dtype: the table's compute dtype (float32, float16 or float64); the output has it too. A float16
            grid keeps float32 master parameters (``table``) and casts them to half for each forward, as
            tiny-cuda-nn's PyTorch module does: Adam on half parameters underflows its epsilon (1e-15 is 0 in
            float16) and returns NaN at the first step.
        chunk_size: points per chunk in the PyTorch backend.
        device: where to allocate the table.

    Explained in notebooks/02_hash_encoding.ipynb.
    """

    def __init__(
        self,
        config: HashGridConfig,
        *,
        backend: str = "auto",
        dtype: torch.dtype = torch.float32,
        chunk_size: int = DEFAULT_CHUNK,
        device=None,
    ):
        super().__init__()
        if not isinstance(config, HashGridConfig):
            raise TypeError(
                f"HashGrid: expected a HashGridConfig, got {type(config).__name__} {config!r}; build one "
                "with HashGridConfig(n_input_dims, ...), HashGridConfig.from_finest(...) or "
                "HashGridConfig.instant_ngp()"
            )
        self.config = config
        if backend not in BACKENDS:
            raise ValueError(f"HashGrid: backend={backend!r} is unknown; use one of {BACKENDS}")
        if dtype not in (torch.float32, torch.float16, torch.float64):
            raise TypeError(
                f"HashGrid: dtype={dtype} is not supported; use torch.float32, torch.float16 or torch.float64"
            )
        if chunk_size < 1:
            raise ValueError(f"HashGrid: chunk_size={chunk_size} must be a positive number of points")
        self.backend = backend
        self.chunk_size = int(chunk_size)
        self._tcnn = None
        self._kernel_ok = {}  # "cpu" / "cuda" -> bool once tried
        if backend == "tcnn":
            from . import tcnn_adapter

            self._tcnn = tcnn_adapter.TcnnHashGrid(self.config, dtype=dtype, device=device)
            self.register_parameter("table", None)
        else:
            master = torch.float32 if dtype == torch.float16 else dtype
            table = torch.empty(self.config.n_params, self.config.n_features_per_level, dtype=master, device=device)
            self.table = nn.Parameter(table.uniform_(-1e-4, 1e-4))
        self.dtype = dtype
        if backend in ("cpu", "cuda"):
            self._kernel_ok[backend] = self._try_kernel(backend)

    # -- properties
    @property
    def n_input_dims(self) -> int:
        return self.config.n_input_dims

    @property
    def n_output_dims(self) -> int:
        return self.config.n_output_dims

    @property
    def n_levels(self) -> int:
        return self.config.n_levels

    def levels(self) -> List[LevelInfo]:
        """Per-level geometry, see :meth:`HashGridConfig.levels`."""
        return self.config.levels()

    def embeddings(self) -> torch.Tensor:
        """The (n_params, F) table of every backend (a view for tcnn; the float32 master of a float16 grid)."""
        return self._tcnn.embeddings() if self._tcnn is not None else self.table

    def compute_table(self) -> torch.Tensor:
        """The table in the compute dtype, differentiable: the parameter itself, or its half copy."""
        return self.table if self.table.dtype == self.dtype else self.table.to(self.dtype)

    # -- backends
    def _try_kernel(self, kind: str) -> bool:
        """Whether the ``kind`` ("cpu" or "cuda") kernel covers this grid and builds (building it if needed)."""
        if kind == "cuda":
            from ..kernels import hashgrid as kmod
        else:
            from ..kernels import hashgrid_cpu as kmod

        reason = kmod.unsupported_reason(self.config, self.dtype)
        if reason:
            if self.backend == kind or kind == "cuda":  # "auto" on a CPU is silent about grids it cannot cover
                warnings.warn(
                    f"talkface_lite: HashGrid {kind.upper()} kernel does not cover this grid ({reason}); "
                    "using the PyTorch reference.",
                    _fallback_warning(),
                    stacklevel=4,
                )
            return False
        return kmod.load() is not None

    def active_backend(self, device=None) -> str:
        """The backend a forward pass on ``device`` (default: the table's) would use: "torch", "cpu", "cuda" or "tcnn"."""
        if self._tcnn is not None:
            return "tcnn"
        dev = torch.device(device) if device is not None else self.table.device
        kind = dev.type if dev.type in ("cpu", "cuda") else None
        if self.backend == "torch" or kind is None or self.backend not in ("auto", kind):
            return "torch"
        if kind not in self._kernel_ok:
            self._kernel_ok[kind] = self._try_kernel(kind)
        return kind if self._kernel_ok[kind] else "torch"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Encode points.

        Args:
            x: (..., n_input_dims) coordinates, nominally in [0, 1] (not clamped).

        Returns:
            (..., n_levels * n_features_per_level) features, in the table dtype (empty for no points).

        Raises:
            ValueError: points of the wrong shape, or holding NaN or inf (on every backend).
        """
        if x.shape[-1:] != (self.n_input_dims,):
            raise ValueError(f"HashGrid: expected points (..., {self.n_input_dims}), got {tuple(x.shape)}")
        lead = x.shape[:-1]
        flat = x.reshape(-1, self.n_input_dims)  # (N, D)
        check_points(flat)
        backend = self.active_backend(flat.device)
        if flat.shape[0] == 0 and backend != "tcnn":
            backend = "torch"  # the reference returns an empty (0, L*F), still differentiable
        if backend == "tcnn":
            out = self._tcnn(flat)
        elif backend == "cuda":
            from ..kernels import hashgrid as khg

            out = khg.hash_encode_cuda(flat, self.compute_table(), self.config)
        elif backend == "cpu":
            from ..kernels import hashgrid_cpu as khc

            out = khc.hash_encode_cpu(flat, self.compute_table(), self.config)
        else:
            out = hash_encode(flat, self.compute_table(), self.config, self.chunk_size)
        return out.reshape(*lead, self.n_output_dims)

    def extra_repr(self) -> str:
        c = self.config
        n_hashed = sum(lv.hashed for lv in c.levels())
        return (
            f"D={c.n_input_dims}, L={c.n_levels}, F={c.n_features_per_level}, T=2^{c.log2_hashmap_size}, "
            f"N_min={c.base_resolution}, b={c.per_level_scale:.4f}, hashed_levels={n_hashed}, "
            f"params={c.n_params * c.n_features_per_level}, interpolation={c.interpolation}, backend={self.backend}"
        )


def _fallback_warning():
    from ..kernels.build import KernelFallbackWarning

    return KernelFallbackWarning


# ------------------------------------------------------------------ collisions


def vertex_slots(config: HashGridConfig, level: int, vertices: torch.Tensor) -> torch.Tensor:
    """Table row (within the level) of integer vertex coordinates.

    Args:
        config: grid config.
        level: level number.
        vertices: (n, D) int64 vertex coordinates.

    Returns:
        (n,) int64 rows in ``[0, size_level)``.
    """
    lv = config.levels()[level]
    grp = _Group([lv], config.n_input_dims, vertices.device, torch.float32)
    cell = (vertices.to(torch.int64) & UINT32_MASK).t()[:, :, None]  # (D, n, 1)
    idx = _corner_index((0,) * config.n_input_dims, _corner_terms(cell, grp), grp)  # (n, 1)
    return idx[:, 0] - lv.offset


def collision_stats(
    config: HashGridConfig,
    x: Optional[torch.Tensor] = None,
    max_vertices: int = 1 << 22,
    generator: Optional[torch.Generator] = None,
) -> List[dict]:
    """How many grid vertices share a table row, level by level.

    Args:
        config: grid config.
        x: optional (n_points, D) points in [0, 1]: count only the vertices their
            cells touch (what training actually sees). Default: every vertex of
            the level, or a uniform sample of ``max_vertices`` distinct vertices
            when there are more.
        max_vertices: cap on vertices enumerated per level.
        generator: RNG for the sample (seed it through ``talkface_lite.repro``).

    Returns:
        One dict per level: ``level, resolution, hashed, size, n_vertices`` (vertices
        counted), ``sampled``, ``load`` (vertices / rows), ``used_rows``,
        ``colliding`` (fraction of counted vertices sharing their row with
        another one) and ``expected_colliding`` (the same for a uniform random
        hash: ``1 - (1 - 1/size)^(n - 1)``; 0 on dense levels).
    """
    D = config.n_input_dims
    rows = []
    for lv in config.levels():
        res = lv.resolution
        sampled = False
        if x is not None:
            pos = x.to(torch.float32) * torch.tensor(lv.scale, dtype=torch.float32) + 0.5  # (n, D)
            cell = torch.floor(pos).to(torch.int64)  # (n, D)
            bits = torch.tensor(_corners(D), dtype=torch.int64)  # (2^D, D)
            verts = (cell[:, None, :] + bits[None]).reshape(-1, D)
            verts = torch.unique(verts, dim=0)
        elif lv.n_vertices <= max_vertices:
            grids = torch.meshgrid(*[torch.arange(res)] * D, indexing="ij")
            verts = torch.stack([g.reshape(-1) for g in grids], dim=-1)  # (res^D, D)
        else:
            sampled = True
            verts = torch.randint(0, res, (max_vertices, D), generator=generator)
            verts = torch.unique(verts, dim=0)
        slots = vertex_slots(config, lv.level, verts)
        counts = torch.bincount(slots, minlength=lv.size)
        n = verts.shape[0]
        colliding = float((counts[slots] > 1).sum()) / max(n, 1)
        expected = 0.0 if not lv.hashed else 1.0 - (1.0 - 1.0 / lv.size) ** max(n - 1, 0)
        rows.append(
            dict(
                level=lv.level,
                resolution=res,
                hashed=lv.hashed,
                size=lv.size,
                n_vertices=n,
                sampled=sampled,
                load=n / lv.size,
                used_rows=int((counts > 0).sum()),
                colliding=colliding,
                expected_colliding=expected,
            )
        )
    return rows


def matched_hashgrid_log2(target_params: int, config: HashGridConfig) -> int:
    """``log2_hashmap_size`` (8..24) that brings ``config``'s parameter count closest to ``target_params``.

    Every other field of ``config`` is kept; build the matched grid with
    ``dataclasses.replace(config, log2_hashmap_size=matched_hashgrid_log2(target, config))``.
    """
    return min(
        range(8, 25),
        key=lambda t: abs(dataclasses.replace(config, log2_hashmap_size=t).parameter_count - target_params),
    )


__all__ = [
    "BACKENDS",
    "DEFAULT_CHUNK",
    "HashGrid",
    "HashGridConfig",
    "LevelInfo",
    "PRIMES",
    "collision_stats",
    "hash_encode",
    "matched_hashgrid_log2",
    "mul_u32",
    "vertex_slots",
]
