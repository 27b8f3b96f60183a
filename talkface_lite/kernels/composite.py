"""Packed-ray alpha compositing as a custom ``torch.autograd.Function`` (CUDA and C++ CPU kernels + twin).

:class:`CompositePacked` has a hand-written backward: the CUDA kernel in
``composite.cu`` runs it one thread per ray with a reverse scan over the
saved weights and transmittance, and the C++ CPU kernel in
``composite_cpu.cpp`` runs the same per-ray loops on the CPU (OpenMP over
rays, float32 and float64). The *twin* runs the same formulas vectorised in
PyTorch; it is used when no kernel is available, and so that the analytic
backward can be checked with ``torch.autograd.gradcheck`` in float64 on any
machine, and against autograd through the reference
(:func:`talkface_lite.rendering.composite_packed` with ``backend="torch"``).

``impl`` chooses who runs the Function: ``"auto"`` (the CUDA kernel for CUDA
float32, the CPU kernel for CPU float32/float64, when they build; else the
twin), ``"cuda"``, ``"cpu"`` (that kernel, else the twin after one fallback
warning) or ``"twin"``.

Maths (per ray, samples ``i`` in order; see ``composite.cu`` for the kernel)::

    tau_i = sigma_i delta_i,  T_i = exp(-sum_{j<i} tau_j),  w_i = T_i (1 - exp(-tau_i))
    g_i   = dL/dw_i + <dL/drgb, c_i> + dL/dopacity + dL/ddepth * t_i
    S_i   = sum_{j>i} (w_j g_j + dL/dT_j T_j)
    dL/dsigma_i = delta_i (T_{i+1} g_i - S_i)      dL/ddelta_i = sigma_i (T_{i+1} g_i - S_i)
    dL/dc_i     = w_i dL/drgb                      dL/dt_i     = w_i dL/ddepth

Explained in notebooks/01_volume_rendering.ipynb.
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch

from ..rendering import packed_exclusive_sum, render_weights
from .build import load_cpu_extension, load_extension, status

EXT_NAME = "composite"
SOURCES = ("composite.cu", "composite_binding.cpp")
CPU_EXT_NAME = "talkface_composite_cpu"
CPU_SOURCES = ("composite_cpu.cpp", "composite_cpu_binding.cpp")
CPU_HEADERS = ("composite_cpu.h",)
IMPLS = ("auto", "twin", "cpu", "cuda")


def kernel_module():
    """The compiled extension, or ``None`` (after one fallback warning from the loader)."""
    return load_extension(EXT_NAME, SOURCES)


def kernel_available() -> bool:
    """``True`` when the CUDA compositing kernel is built and a device is visible."""
    return torch.cuda.is_available() and kernel_module() is not None


def cpu_kernel_module() -> Optional[str]:
    """Path of the loaded C++ CPU extension (``torch.ops.talkface_composite_cpu``), or ``None`` after one warning."""
    return load_cpu_extension(CPU_EXT_NAME, CPU_SOURCES, CPU_HEADERS)


def cpu_kernel_available() -> bool:
    """``True`` when the C++ CPU compositing kernel is built (building it now if needed) and loaded."""
    return cpu_kernel_module() is not None


def resolve_impl(impl: str, sigmas: torch.Tensor, *others: torch.Tensor) -> str:
    """Who runs :class:`CompositePacked` for these tensors: "cuda", "cpu" or "twin" (see the module docstring)."""
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
    same = all(t.dtype == sigmas.dtype for t in others)
    if impl in ("auto", "cuda") and sigmas.is_cuda and sigmas.dtype == torch.float32 and same and kernel_available():
        return "cuda"
    if (
        impl in ("auto", "cpu")
        and sigmas.device.type == "cpu"
        and sigmas.dtype in (torch.float32, torch.float64)
        and same
        and cpu_kernel_available()
    ):
        return "cpu"
    return "twin"


def _segment_sum(values: torch.Tensor, ray_indices: torch.Tensor, n_rays: int) -> torch.Tensor:
    return torch.zeros(n_rays, *values.shape[1:], dtype=values.dtype, device=values.device).index_add(
        0, ray_indices, values
    )


def forward_torch(sigmas, rgbs, deltas, ts, ray_indices, starts, n_rays):
    """CPU twin of the forward kernel (no autograd). Shapes as in :func:`composite_packed_fn`."""
    weights, trans, _ = render_weights(sigmas, deltas, ray_indices, starts)
    rgb = _segment_sum(weights[:, None] * rgbs, ray_indices, n_rays)  # (n_rays, 3)
    depth = _segment_sum(weights * ts, ray_indices, n_rays)
    opacity = _segment_sum(weights, ray_indices, n_rays)
    return rgb, depth, opacity, weights, trans


def backward_torch(
    grad_weights,
    grad_trans,
    grad_rgb,
    grad_depth,
    grad_opacity,
    sigmas,
    rgbs,
    deltas,
    ts,
    weights,
    trans,
    ray_indices,
    starts,
    n_rays,
):
    """CPU twin of the backward kernel: the reverse scan written with per-ray prefix sums."""
    g = (
        grad_weights + (grad_rgb[ray_indices] * rgbs).sum(-1) + grad_opacity[ray_indices] + grad_depth[ray_indices] * ts
    )  # (n,) upstream scalar per sample
    contrib = weights * g + grad_trans * trans  # (n,)
    total = _segment_sum(contrib, ray_indices, n_rays)  # (n_rays,)
    suffix = total[ray_indices] - packed_exclusive_sum(contrib, ray_indices, starts) - contrib  # S_i: later samples
    bracket = trans * torch.exp(-sigmas * deltas) * g - suffix
    return (
        deltas * bracket,
        weights[:, None] * grad_rgb[ray_indices],
        sigmas * bracket,
        weights * grad_depth[ray_indices],
    )


def _kernel_op(impl: str, name: str):
    """The CUDA extension's or the CPU ``torch.ops`` operator ``name`` ("forward" or "backward")."""
    return getattr(kernel_module() if impl == "cuda" else torch.ops.talkface_composite_cpu, name)


class CompositePacked(torch.autograd.Function):
    """Autograd Function: ``(sigmas, rgbs, deltas, ts) -> (rgb, depth, opacity, weights, transmittance)``."""

    @staticmethod
    def forward(ctx, sigmas, rgbs, deltas, ts, ray_indices, starts, counts, impl="twin"):
        n_rays = starts.shape[0]
        if impl in ("cuda", "cpu"):  # the two kernels share one signature
            out = _kernel_op(impl, "forward")(
                *(t.contiguous() for t in (sigmas, rgbs, deltas, ts)),
                starts.long().contiguous(),
                counts.long().contiguous(),
            )
        else:
            out = forward_torch(sigmas, rgbs, deltas, ts, ray_indices, starts, n_rays)
        rgb, depth, opacity, weights, trans = out
        ctx.impl = impl
        ctx.n_rays = n_rays
        ctx.save_for_backward(sigmas, rgbs, deltas, ts, ray_indices, starts, counts, weights, trans)
        return rgb, depth, opacity, weights, trans

    @staticmethod
    def backward(ctx, grad_rgb, grad_depth, grad_opacity, grad_weights, grad_trans):
        sigmas, rgbs, deltas, ts, ray_indices, starts, counts, weights, trans = ctx.saved_tensors
        grads = [
            torch.zeros_like(t) if g is None else g.contiguous()
            for g, t in ((grad_weights, weights), (grad_trans, trans))
        ]
        grads += [
            torch.zeros(ctx.n_rays, *shape, dtype=sigmas.dtype, device=sigmas.device) if g is None else g.contiguous()
            for g, shape in ((grad_rgb, (3,)), (grad_depth, ()), (grad_opacity, ()))
        ]
        gw, gt, grgb, gd, go = grads
        if ctx.impl in ("cuda", "cpu"):
            gs, gc, gdel, gts = _kernel_op(ctx.impl, "backward")(
                gw,
                gt,
                grgb,
                gd,
                go,
                *(t.contiguous() for t in (sigmas, rgbs, deltas, ts)),
                weights,
                trans,
                starts.long().contiguous(),
                counts.long().contiguous(),
            )
        else:
            gs, gc, gdel, gts = backward_torch(
                gw, gt, grgb, gd, go, sigmas, rgbs, deltas, ts, weights, trans, ray_indices, starts, ctx.n_rays
            )
        need = ctx.needs_input_grad
        return (
            gs if need[0] else None,
            gc if need[1] else None,
            gdel if need[2] else None,
            gts if need[3] else None,
            None,
            None,
            None,
            None,
        )


def composite_packed_fn(
    sigmas: torch.Tensor,
    rgbs: torch.Tensor,
    deltas: torch.Tensor,
    ts: torch.Tensor,
    ray_indices: torch.Tensor,
    starts: torch.Tensor,
    counts: torch.Tensor,
    impl: str = "auto",
) -> Tuple[torch.Tensor, ...]:
    """Composite packed samples with the hand-written backward (CUDA or CPU kernel when available, else the twin).

    Args:
        sigmas: ``(n,)`` densities.
        rgbs: ``(n, 3)`` colours.
        deltas: ``(n,)`` interval lengths.
        ts: ``(n,)`` sample positions used for depth.
        ray_indices: ``(n,)`` sorted ray id per sample.
        starts, counts: ``(n_rays,)`` first sample and number of samples of each ray.
        impl: ``"auto" | "cuda" | "cpu" | "twin"`` (see the module docstring).

    Returns:
        ``rgb (n_rays, 3), depth (n_rays,), opacity (n_rays,), weights (n,), transmittance (n,)``;
        ``rgb`` has no background (add ``(1 - opacity) * bg``).

    Explained in notebooks/01_volume_rendering.ipynb.
    """
    n = sigmas.shape[0]
    if rgbs.shape != (n, 3) or deltas.shape != (n,) or ts.shape != (n,) or ray_indices.shape != (n,):
        raise ValueError(
            f"expected sigmas (n,), rgbs (n, 3), deltas/ts/ray_indices (n,) with n={n}; got "
            f"{tuple(rgbs.shape)}, {tuple(deltas.shape)}, {tuple(ts.shape)}, {tuple(ray_indices.shape)}"
        )
    if starts.shape != counts.shape or starts.dim() != 1:
        raise ValueError(
            f"starts and counts must both be (n_rays,), got {tuple(starts.shape)} and {tuple(counts.shape)}"
        )
    impl = resolve_impl(impl, sigmas, rgbs, deltas, ts)
    return CompositePacked.apply(sigmas, rgbs, deltas, ts, ray_indices.long(), starts.long(), counts.long(), impl)


__all__ = [
    "CPU_EXT_NAME",
    "EXT_NAME",
    "CPU_HEADERS",
    "CPU_SOURCES",
    "CompositePacked",
    "IMPLS",
    "SOURCES",
    "backward_torch",
    "composite_packed_fn",
    "cpu_kernel_available",
    "cpu_kernel_module",
    "forward_torch",
    "kernel_available",
    "kernel_module",
    "resolve_impl",
    "status",
]
