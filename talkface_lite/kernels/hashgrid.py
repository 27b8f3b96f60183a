"""The CUDA hash-encoding kernel as an autograd function (``hashgrid.cu`` + ``hashgrid_binding.cpp``).

Covers 2D and 3D inputs, 1, 2, 4 or 8 features per level and float32 or
float16 tables; one CUDA thread per (point, level), level on ``blockIdx.y``.
The backward recomputes the corner indices and scatters gradients with
``atomicAdd`` into a float32 buffer (cast to the table dtype at the end; this
is more accurate than tiny-cuda-nn's half-precision atomics for fp16 tables),
and optionally returns d loss / d x. The PyTorch reference in
:mod:`talkface_lite.encoding.hashgrid` is the specification; tests compare
the two (forward and backward) on a GPU.

Note:
    Atomic adds sum in a non-deterministic order, so CUDA gradients are not
    bitwise reproducible run to run (within float tolerance they are).

Explained in notebooks/02_hash_encoding.ipynb (backends).
"""

from __future__ import annotations

import functools
from typing import Optional

import torch

from .build import load_extension

EXT_NAME = "talkface_hashgrid"
SOURCES = ("hashgrid.cu", "hashgrid_binding.cpp")
SUPPORTED_DIMS = (2, 3)
SUPPORTED_FEATURES = (1, 2, 4, 8)
SUPPORTED_DTYPES = (torch.float32, torch.float16)
MAX_LEVELS = 32


def unsupported_reason(config, dtype: torch.dtype, dtypes=SUPPORTED_DTYPES, kernels: str = "kernels") -> str:
    """Why a hash-grid kernel cannot encode this grid ("" when it can).

    Args:
        config: the grid's :class:`~talkface_lite.encoding.hashgrid.HashGridConfig`.
        dtype: the table dtype.
        dtypes: the dtypes the kernel has (the CUDA ones by default; the CPU module passes its own).
        kernels: how messages name the kernels (``"kernels"``, ``"CPU kernels"``).
    """
    if config.n_input_dims not in SUPPORTED_DIMS:
        return f"n_input_dims={config.n_input_dims}, {kernels} exist for {SUPPORTED_DIMS}"
    if config.n_features_per_level not in SUPPORTED_FEATURES:
        return f"n_features_per_level={config.n_features_per_level}, {kernels} exist for {SUPPORTED_FEATURES}"
    if dtype not in dtypes:
        names = [str(d).replace("torch.", "") for d in dtypes]
        return f"table dtype {dtype}, {kernels} exist for {', '.join(names[:-1])} and {names[-1]}"
    if config.n_levels > MAX_LEVELS:
        return f"n_levels={config.n_levels} > {MAX_LEVELS}"
    return ""


def load(require_device: bool = True) -> Optional[object]:
    """The compiled extension, or ``None`` after one fallback warning (see :func:`~.build.load_extension`)."""
    return load_extension(EXT_NAME, SOURCES, require_device=require_device)


@functools.lru_cache(maxsize=64)
def level_arrays(config, with_hashed: bool = False) -> tuple:
    """The per-level arguments both hash-grid kernels take, in their order.

    ``(offsets, sizes, resolutions[, hashed], scales, smoothstep)``: lists of length ``n_levels`` from
    ``config.levels()`` (``hashed`` as 0/1, only the CPU kernel takes it) and the interpolation flag.
    """
    levels = config.levels()
    arrays = [[lv.offset for lv in levels], [lv.size for lv in levels], [lv.resolution for lv in levels]]
    if with_hashed:
        arrays.append([int(lv.hashed) for lv in levels])
    return (*arrays, [lv.scale for lv in levels], config.interpolation == "smoothstep")


class _HashEncodeCUDA(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, table, config, ext):
        x32 = x.detach().to(torch.float32).contiguous()
        meta = level_arrays(config)
        out = ext.forward(x32, table.detach().contiguous(), *meta)  # (N, L * F) in table dtype
        ctx.save_for_backward(x32, table)
        ctx.meta, ctx.ext, ctx.x_dtype = meta, ext, x.dtype
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        x32, table = ctx.saved_tensors
        need_x = ctx.needs_input_grad[0]
        grad_table, grad_x = ctx.ext.backward(
            grad_out.contiguous().to(table.dtype), x32, table.detach().contiguous(), *ctx.meta, need_x
        )
        grad_t = grad_table.to(table.dtype) if ctx.needs_input_grad[1] else None
        grad_x = grad_x.to(ctx.x_dtype) if need_x else None
        return grad_x, grad_t, None, None


def hash_encode_cuda(x: torch.Tensor, table: torch.Tensor, config) -> torch.Tensor:
    """Encode points with the CUDA kernel.

    Args:
        x: (n_points, D) CUDA coordinates in [0, 1] (computed in float32).
        table: (config.n_params, F) CUDA float32 or float16 table.
        config: :class:`~talkface_lite.encoding.hashgrid.HashGridConfig`.

    Returns:
        (n_points, n_levels * F) features in ``table.dtype``.

    Raises:
        RuntimeError: when the extension cannot be built (the fallback warning
            has said why); :class:`~talkface_lite.encoding.hashgrid.HashGrid`
            checks availability first and uses the PyTorch reference instead.
    """
    reason = unsupported_reason(config, table.dtype)
    if reason:
        raise ValueError(f"hash_encode_cuda: unsupported grid ({reason}); use the PyTorch backend")
    if not (x.is_cuda and table.is_cuda):
        raise ValueError("hash_encode_cuda: points and table must be CUDA tensors; use backend='torch' on CPU")
    from ..encoding.hashgrid import check_points

    check_points(x, "hash_encode_cuda")
    ext = load()
    if ext is None:
        raise RuntimeError("hash_encode_cuda: the CUDA extension is unavailable (see the warning above)")
    return _HashEncodeCUDA.apply(x, table, config, ext)


__all__ = [
    "EXT_NAME",
    "SOURCES",
    "SUPPORTED_DIMS",
    "SUPPORTED_DTYPES",
    "SUPPORTED_FEATURES",
    "hash_encode_cuda",
    "load",
    "unsupported_reason",
]
