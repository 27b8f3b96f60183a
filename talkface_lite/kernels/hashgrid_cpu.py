"""The C++ CPU hash-encoding kernel as an autograd function (``hashgrid_cpu.cpp`` + ``hashgrid_cpu_binding.cpp``).

Covers 2D and 3D inputs, 1, 2, 4 or 8 features per level, float32 and
float64 (float16 tables are computed in float32, as the reference does), and
d loss / d x. Built on first use by :func:`~talkface_lite.kernels.build.load_cpu_extension`
(a few seconds, cached); without a C++ compiler the PyTorch reference runs
instead, after one :class:`~talkface_lite.kernels.build.KernelFallbackWarning`.

Semantics and arithmetic are the PyTorch reference's
(:mod:`talkface_lite.encoding.hashgrid` is the specification): the forward
pass gives the same bits; gradients agree to float rounding.

Note:
    The backward pass is deterministic (same bits on every run and for any
    number of threads): each level's slice of the table gradient is summed by
    one thread, points in increasing order, and no float atomics are used.
    The trainers rely on this for bit-identical resumed runs.

Explained in notebooks/02_hash_encoding.ipynb (backends).
"""

from __future__ import annotations

from typing import Optional

import torch

from . import hashgrid as _cuda
from .build import load_cpu_extension, status

EXT_NAME = "talkface_hashgrid_cpu"
SOURCES = ("hashgrid_cpu.cpp", "hashgrid_cpu_binding.cpp")
HEADERS = ("hashgrid_cpu.h",)
SUPPORTED_DIMS, SUPPORTED_FEATURES, MAX_LEVELS = _cuda.SUPPORTED_DIMS, _cuda.SUPPORTED_FEATURES, _cuda.MAX_LEVELS
SUPPORTED_DTYPES = (torch.float32, torch.float64, torch.float16)


def unsupported_reason(config, dtype: torch.dtype) -> str:
    """Why the CPU kernel cannot encode this grid ("" when it can); same limits as the CUDA kernel's."""
    return _cuda.unsupported_reason(config, dtype, SUPPORTED_DTYPES, kernels="CPU kernels")


def load() -> Optional[str]:
    """Path of the loaded library, or ``None`` after one fallback warning (see :func:`~.build.load_cpu_extension`)."""
    return load_cpu_extension(EXT_NAME, SOURCES, HEADERS)


def available() -> bool:
    """``True`` when the CPU kernel is built (building it now if needed) and loaded."""
    return load() is not None


def _compute_dtype(x: torch.Tensor, table: torch.Tensor) -> torch.dtype:
    return torch.float64 if torch.float64 in (x.dtype, table.dtype) else torch.float32


class _EncodeCPU(torch.autograd.Function):
    """G grids with one config reading ``axes`` of the same points: (N, X) -> (N, G * L * F)."""

    @staticmethod
    def forward(ctx, x, config, axes, *tables):
        cdt = _compute_dtype(x, tables[0])
        xc = x.detach().to(cdt).contiguous()
        tcs = [t.detach().to(cdt).contiguous() for t in tables]  # float16 tables: float32 copies, as the reference
        meta = _cuda.level_arrays(config, with_hashed=True)
        out = torch.ops.talkface_hashgrid_cpu.forward(xc, axes, tcs, *meta)  # (N, G * L * F) in cdt
        ctx.save_for_backward(xc, *tcs)
        ctx.meta, ctx.axes, ctx.x_dtype, ctx.table_dtype = meta, axes, x.dtype, tables[0].dtype
        return out.to(tables[0].dtype)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        xc, *tcs = ctx.saved_tensors
        need_x, need_t = ctx.needs_input_grad[0], any(ctx.needs_input_grad[3:])
        if not (need_x or need_t):
            return (None, None, None) + (None,) * len(tcs)
        g = grad_out.to(xc.dtype).contiguous()
        grad_ts, grad_x = torch.ops.talkface_hashgrid_cpu.backward(g, xc, ctx.axes, tcs, *ctx.meta, need_t, need_x)
        grad_ts = (
            [gt.to(ctx.table_dtype) if need else None for gt, need in zip(grad_ts, ctx.needs_input_grad[3:])]
            if need_t
            else [None] * len(tcs)
        )
        return (grad_x.to(ctx.x_dtype) if need_x else None, None, None, *grad_ts)


def _check(x: torch.Tensor, tables, config) -> None:
    reason = unsupported_reason(config, tables[0].dtype)
    if reason:
        raise ValueError(f"hashgrid_cpu: unsupported grid ({reason}); use the PyTorch backend")
    if x.device.type != "cpu" or any(t.device.type != "cpu" for t in tables):
        raise ValueError("hashgrid_cpu: points and tables must be CPU tensors; use backend='cuda' or 'torch' on a GPU")
    if load() is None:
        raise RuntimeError("hashgrid_cpu: the C++ CPU extension is unavailable (see the warning above)")
    from ..encoding.hashgrid import check_points

    check_points(x, "hashgrid_cpu")


def hash_encode_cpu(x: torch.Tensor, table: torch.Tensor, config) -> torch.Tensor:
    """Encode points with the C++ CPU kernel (differentiable in ``x`` and ``table``).

    Args:
        x: (n_points, D) CPU coordinates, nominally in [0, 1] (not clamped, as the reference).
        table: (config.n_params, F) CPU table, float32, float64 or float16.
        config: :class:`~talkface_lite.encoding.hashgrid.HashGridConfig`.

    Returns:
        (n_points, n_levels * F) features in ``table.dtype``; computed in float64 when
        ``x`` or ``table`` is float64, else in float32 (as the reference).

    Raises:
        ValueError: for a grid the kernel does not cover, or tensors not on the CPU.
        RuntimeError: when the extension cannot be built (the fallback warning has said why);
            :class:`~talkface_lite.encoding.hashgrid.HashGrid` checks availability first and
            uses the PyTorch reference instead.
    """
    _check(x, (table,), config)
    if x.dim() != 2 or x.shape[1] != config.n_input_dims:
        raise ValueError(f"hash_encode_cpu: expected points (n_points, {config.n_input_dims}), got {tuple(x.shape)}")
    return _EncodeCPU.apply(x, config, list(range(config.n_input_dims)), table)


def multi_encode_cpu(x: torch.Tensor, tables, config, axes) -> torch.Tensor:
    """Encode several grids of one config, each on some columns of ``x``, in one call (the tri-plane).

    Args:
        x: (n_points, X) CPU points, nominally in [0, 1].
        tables: G tables (config.n_params, F), same dtype.
        config: the grids' shared :class:`~talkface_lite.encoding.hashgrid.HashGridConfig` (D = 2 or 3).
        axes: G tuples of D column indices of ``x``, e.g. ``((0, 1), (1, 2), (0, 2))``.

    Returns:
        (n_points, G * n_levels * F): grid g's features in columns ``[g * L * F, (g + 1) * L * F)``,
        bit for bit what G separate :func:`hash_encode_cpu` calls on ``x[:, axes[g]]`` give.
    """
    _check(x, tables, config)
    flat = [int(a) for ax in axes for a in ax]
    if len(axes) != len(tables) or any(len(ax) != config.n_input_dims for ax in axes):
        raise ValueError(f"multi_encode_cpu: give {config.n_input_dims} axes per table, got {axes} for {len(tables)}")
    if x.dim() != 2 or not all(0 <= a < x.shape[1] for a in flat):
        raise ValueError(f"multi_encode_cpu: axes {axes} must index the columns of x {tuple(x.shape)}")
    return _EncodeCPU.apply(x, config, flat, *tables)


__all__ = [
    "EXT_NAME",
    "HEADERS",
    "SOURCES",
    "SUPPORTED_DIMS",
    "SUPPORTED_DTYPES",
    "SUPPORTED_FEATURES",
    "available",
    "hash_encode_cpu",
    "load",
    "multi_encode_cpu",
    "status",
    "unsupported_reason",
]
