"""Volume rendering: camera rays, sampling along rays and alpha compositing (paper Eq. 1-3).

Conventions (used everywhere in talkface_lite):

* **Camera frame: OpenCV** -- x right, y down, z forward (the camera looks
  along +z). This is the frame of dlib landmarks and ``cv2.solvePnP``, so
  head poses estimated later need no axis flips.
* **Poses are camera-to-world** ``(4, 4)`` (or ``(3, 4)``) matrices ``c2w``:
  ``x_world = R @ x_cam + t``; the ray origin is ``t`` and the direction is
  ``R @ K^-1 [u, v, 1]``, normalised to unit length, so ``t`` along a ray
  is a Euclidean distance and the rendered ``depth`` is one too.
* **Pixel centres** are at ``(i + 0.5, j + 0.5)`` for column ``i``, row ``j``.
* **Samples are intervals** ``[t_start, t_end)`` along a ray, evaluated at
  ``t_mid`` (a jittered point inside the interval during training). The
  quadrature of Eq. 2-3 treats the density as constant on each interval:
  ``alpha_i = 1 - exp(-sigma_i * delta_i)`` with ``delta_i = t_end - t_start``,
  ``T_i = exp(-sum_{j<i} sigma_j delta_j)`` and ``w_i = T_i * alpha_i``.
* **Layouts**: *dense* tensors ``(n_rays, n_samples)``, or *packed* samples
  ``(n_samples_total,)`` with ``ray_indices`` (sorted, like nerfacc) from
  which per-ray ``(start, count)`` chunks are derived.

Packed compositing has three backends behind ``backend="auto" | "torch" | "cpu" | "cuda"``:
``torch`` is the PyTorch reference (the specification); ``cuda`` is the
packed one-thread-per-ray CUDA kernel and ``cpu`` its C++ CPU twin (OpenMP
over rays), both with a hand-written backward, in
:mod:`talkface_lite.kernels.composite`. ``auto`` picks ``cuda`` for CUDA
tensors and ``cpu`` for CPU tensors (float32/float64) when that kernel
builds, else torch.

Explained in notebooks/01_volume_rendering.ipynb.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional, Tuple

import torch

BACKENDS = ("auto", "torch", "cpu", "cuda")


class RaySamples(NamedTuple):
    """Intervals along each ray; all fields share one shape ``(n_rays, n_samples)``."""

    t_starts: torch.Tensor
    t_ends: torch.Tensor
    t_mids: torch.Tensor  # where the field is evaluated (inside [t_start, t_end])

    @property
    def deltas(self) -> torch.Tensor:
        return self.t_ends - self.t_starts

    def points(self, rays_o: torch.Tensor, rays_d: torch.Tensor) -> torch.Tensor:
        """3D sample positions ``(n_rays, n_samples, 3)`` from ``rays_o, rays_d: (n_rays, 3)``."""
        return rays_o[:, None, :] + self.t_mids[..., None] * rays_d[:, None, :]


class RenderOutput(NamedTuple):
    """What compositing returns. Per ray: ``rgb (n_rays, 3)``, ``depth, opacity (n_rays,)``;
    per sample (same layout as the input): ``weights, transmittance``."""

    rgb: torch.Tensor
    depth: torch.Tensor
    opacity: torch.Tensor
    weights: torch.Tensor
    transmittance: torch.Tensor


# ----------------------------------------------------------------------------- rays


def _intrinsics(intrinsics) -> Tuple[float, float, float, float]:
    k = torch.as_tensor(intrinsics, dtype=torch.float64)
    if k.shape == (3, 3):
        return float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2])
    if k.shape == (4,):
        return tuple(float(v) for v in k)  # type: ignore[return-value]
    raise ValueError(f"intrinsics must be (fx, fy, cx, cy) or a (3, 3) K matrix, got shape {tuple(k.shape)}")


def _check_pose(c2w: torch.Tensor) -> torch.Tensor:
    if c2w.dim() < 2 or c2w.shape[-2:] not in ((4, 4), (3, 4)):
        raise ValueError(f"c2w must be (..., 4, 4) or (..., 3, 4) camera-to-world matrices, got {tuple(c2w.shape)}")
    return c2w[..., :3, :4]


def pixel_rays(intrinsics, c2w: torch.Tensor, pixels: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Rays through given pixel coordinates (OpenCV camera, unit directions).

    Args:
        intrinsics: ``(fx, fy, cx, cy)`` or a ``(3, 3)`` K matrix, in pixels.
        c2w: ``(4, 4)`` camera-to-world pose shared by all pixels, or ``(n, 4, 4)`` one per pixel.
        pixels: ``(n, 2)`` continuous ``(x, y)`` pixel coordinates; the centre of
            pixel column ``i``, row ``j`` is ``(i + 0.5, j + 0.5)``.

    Returns:
        ``rays_o, rays_d``: ray origins and unit directions, ``(n, 3)`` each.

    Explained in notebooks/01_volume_rendering.ipynb.
    """
    fx, fy, cx, cy = _intrinsics(intrinsics)
    pose = _check_pose(torch.as_tensor(c2w)).to(pixels)
    if pixels.dim() != 2 or pixels.shape[-1] != 2:
        raise ValueError(f"pixels must be (n, 2) (x, y) coordinates, got {tuple(pixels.shape)}")
    cam = torch.stack([(pixels[:, 0] - cx) / fx, (pixels[:, 1] - cy) / fy, torch.ones_like(pixels[:, 0])], -1)  # (n, 3)
    rot = pose[..., :3, :3]
    dirs = (cam[:, None, :] * rot).sum(-1) if rot.dim() == 3 else cam @ rot.T  # (n, 3): R @ d_cam
    dirs = dirs / dirs.norm(dim=-1, keepdim=True)
    rays_o = pose[..., :3, 3].expand_as(dirs)
    return rays_o.contiguous(), dirs


def camera_rays(intrinsics, c2w: torch.Tensor, height: int, width: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """One ray per pixel of a ``height x width`` image.

    Args:
        intrinsics: ``(fx, fy, cx, cy)`` or ``(3, 3)`` K.
        c2w: ``(4, 4)`` camera-to-world pose (OpenCV camera axes).
        height, width: image size in pixels.

    Returns:
        ``rays_o, rays_d``: ``(height, width, 3)`` each; ``rays_d[j, i]``
        goes through the centre of row ``j``, column ``i``.

    Explained in notebooks/01_volume_rendering.ipynb.
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"image size must be positive, got {height}x{width}")
    c2w = torch.as_tensor(c2w)
    dtype = c2w.dtype if c2w.is_floating_point() else torch.float32
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=dtype, device=c2w.device) + 0.5,
        torch.arange(width, dtype=dtype, device=c2w.device) + 0.5,
        indexing="ij",
    )
    pixels = torch.stack([xs.reshape(-1), ys.reshape(-1)], -1)  # (H*W, 2)
    rays_o, rays_d = pixel_rays(intrinsics, c2w.to(dtype), pixels)
    return rays_o.reshape(height, width, 3), rays_d.reshape(height, width, 3)


def ray_aabb(rays_o: torch.Tensor, rays_d: torch.Tensor, aabb, min_near: float = 0.0):
    """Near/far distances where rays enter and leave an axis-aligned box (slab method).

    Args:
        rays_o, rays_d: ``(n_rays, 3)`` ray origins and directions.
        aabb: ``(6,)`` box ``[xmin, ymin, zmin, xmax, ymax, zmax]``.
        min_near: near is clamped to at least this (a camera inside the box starts here).

    Returns:
        ``near, far, hit``: ``(n_rays,)`` each. Rays that miss get ``hit=False``
        and ``near == far`` (an empty interval, so they render the background).

    Explained in notebooks/01_volume_rendering.ipynb.
    """
    box = torch.as_tensor(aabb, dtype=rays_o.dtype, device=rays_o.device)
    if box.shape != (6,) or bool((box[3:] <= box[:3]).any()):
        raise ValueError(f"aabb must be [xmin, ymin, zmin, xmax, ymax, zmax] with max > min, got {box.tolist()}")
    safe = torch.where(rays_d.abs() < 1e-12, torch.full_like(rays_d, 1e-12), rays_d)
    t0 = (box[:3] - rays_o) / safe  # (n_rays, 3)
    t1 = (box[3:] - rays_o) / safe
    near = torch.minimum(t0, t1).amax(-1).clamp_min(min_near)
    far = torch.maximum(t0, t1).amin(-1)
    hit = far > near
    far = torch.where(hit, far, near)
    return near, far, hit


# ----------------------------------------------------------------------------- sampling


def _check_near_far(near: torch.Tensor, far: torch.Tensor) -> None:
    if near.shape != far.shape or near.dim() != 1:
        raise ValueError(f"near and far must both be (n_rays,), got {tuple(near.shape)} and {tuple(far.shape)}")
    if bool((far < near).any()):
        raise ValueError("far < near for some rays; compute them with ray_aabb or clamp far to >= near")


def sample_stratified(
    near: torch.Tensor,
    far: torch.Tensor,
    n_samples: int,
    jitter: bool = True,
    generator: Optional[torch.Generator] = None,
) -> RaySamples:
    """Split ``[near, far]`` into ``n_samples`` equal strata, one evaluation point per stratum.

    Args:
        near, far: ``(n_rays,)``.
        n_samples: strata per ray.
        jitter: place each ``t_mid`` uniformly at random inside its stratum
            (training; removes banding); ``False`` uses the stratum centre.
        generator: optional ``torch.Generator`` (seeded through ``repro`` by default).

    Returns:
        :class:`RaySamples` with fields ``(n_rays, n_samples)``.

    Explained in notebooks/01_volume_rendering.ipynb.
    """
    _check_near_far(near, far)
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    steps = torch.linspace(0.0, 1.0, n_samples + 1, dtype=near.dtype, device=near.device)
    edges = near[:, None] + (far - near)[:, None] * steps  # (n_rays, n_samples + 1)
    starts, ends = edges[:, :-1], edges[:, 1:]
    if jitter:
        u = torch.rand(starts.shape, dtype=near.dtype, device="cpu", generator=generator).to(near.device)
    else:
        u = torch.full_like(starts, 0.5)
    return RaySamples(starts, ends, starts + (ends - starts) * u)


def sample_pdf(
    bins: torch.Tensor,
    weights: torch.Tensor,
    n_samples: int,
    deterministic: bool = False,
    padding: float = 1e-5,
    generator: Optional[torch.Generator] = None,
) -> torch.Tensor:
    """Inverse-CDF sampling of the piecewise-constant pdf ``weights`` on ``bins``.

    Args:
        bins: ``(n_rays, n_bins + 1)`` sorted bin edges.
        weights: ``(n_rays, n_bins)`` non-negative mass per bin (need not sum to 1).
        n_samples: samples per ray.
        deterministic: use evenly spaced quantiles ``(k + 0.5) / n`` instead of uniform draws.
        padding: added to every bin's mass so rays with zero weight sample uniformly.

    Returns:
        ``(n_rays, n_samples)`` sorted positions, distributed with density ``∝ weights``.

    Note:
        The CDF is linear inside a bin, so a sample with ``u`` in bin ``k``
        lands at ``bins[k] + (u - cdf[k]) / (cdf[k+1] - cdf[k]) * (bins[k+1] - bins[k])``.

    Explained in notebooks/01_volume_rendering.ipynb.
    """
    if bins.shape[:-1] != weights.shape[:-1] or bins.shape[-1] != weights.shape[-1] + 1:
        raise ValueError(
            f"bins must be (n_rays, n_bins + 1) for weights (n_rays, n_bins); "
            f"got {tuple(bins.shape)} and {tuple(weights.shape)}"
        )
    if bool((weights < 0).any()):
        raise ValueError("weights must be non-negative")
    w = weights.detach() + padding
    pdf = w / w.sum(-1, keepdim=True)
    cdf = torch.cat([torch.zeros_like(pdf[:, :1]), pdf.cumsum(-1)], -1).clamp_max(1.0)  # (n_rays, n_bins + 1)
    if deterministic:
        u = (
            ((torch.arange(n_samples, dtype=bins.dtype, device=bins.device) + 0.5) / n_samples)
            .expand(bins.shape[0], n_samples)
            .contiguous()
        )
    else:
        u = torch.rand((bins.shape[0], n_samples), dtype=bins.dtype, generator=generator).to(bins.device)
    idx = torch.searchsorted(cdf, u, right=True).clamp(1, cdf.shape[-1] - 1)  # (n_rays, n_samples)
    cdf_lo, cdf_hi = cdf.gather(-1, idx - 1), cdf.gather(-1, idx)
    bin_lo, bin_hi = bins.detach().gather(-1, idx - 1), bins.detach().gather(-1, idx)
    frac = ((u - cdf_lo) / (cdf_hi - cdf_lo).clamp_min(1e-12)).clamp(0.0, 1.0)
    return bin_lo + frac * (bin_hi - bin_lo)


def intervals_from_points(t_points: torch.Tensor, near: torch.Tensor, far: torch.Tensor) -> RaySamples:
    """Partition ``[near, far]`` around sorted points: interval edges are midpoints between neighbours.

    Args:
        t_points: ``(n_rays, n)`` positions (sorted here).
        near, far: ``(n_rays,)``.

    Returns:
        :class:`RaySamples` ``(n_rays, n)`` whose intervals tile ``[near, far]`` with ``t_mids = t_points``.
    """
    t = t_points.sort(-1).values
    mid = 0.5 * (t[:, 1:] + t[:, :-1])  # (n_rays, n - 1)
    starts = torch.cat([near[:, None], mid], -1)
    ends = torch.cat([mid, far[:, None]], -1)
    return RaySamples(starts, ends, t)


def sample_importance(
    coarse: RaySamples,
    weights: torch.Tensor,
    n_fine: int,
    near: torch.Tensor,
    far: torch.Tensor,
    include_coarse: bool = True,
    deterministic: bool = False,
    generator: Optional[torch.Generator] = None,
) -> RaySamples:
    """Hierarchical sampling: draw ``n_fine`` points where the coarse weights are (NeRF's fine pass).

    Args:
        coarse: strata from :func:`sample_stratified`, fields ``(n_rays, n_coarse)``.
        weights: ``(n_rays, n_coarse)`` compositing weights of the coarse pass.
        n_fine: new samples per ray.
        near, far: ``(n_rays,)``.
        include_coarse: merge the coarse points with the fine ones (``n_coarse + n_fine`` samples).

    Returns:
        :class:`RaySamples` tiling ``[near, far]``.

    Explained in notebooks/01_volume_rendering.ipynb.
    """
    bins = torch.cat([coarse.t_starts, coarse.t_ends[:, -1:]], -1)  # (n_rays, n_coarse + 1)
    t_fine = sample_pdf(bins, weights, n_fine, deterministic=deterministic, generator=generator)
    t = torch.cat([coarse.t_mids.detach(), t_fine], -1) if include_coarse else t_fine
    return intervals_from_points(t, near, far)


# ----------------------------------------------------------------------------- compositing


def render_weights(
    sigmas: torch.Tensor,
    deltas: torch.Tensor,
    ray_indices: Optional[torch.Tensor] = None,
    starts: Optional[torch.Tensor] = None,
):
    """Per-sample compositing weights ``w_i = T_i (1 - exp(-sigma_i delta_i))`` (Eq. 2-3 discretised).

    The one place this formula lives: dense and packed compositing, and the CPU twin of the
    compositing kernel (:mod:`talkface_lite.kernels.composite`), all call it.

    Args:
        sigmas: non-negative densities, dense ``(n_rays, n_samples)`` or packed ``(n,)`` (not
            checked here, this runs every step: a field's ``trunc_exp`` or ``softplus`` keeps them so).
        deltas: interval lengths ``t_ends - t_starts``, same shape as ``sigmas``.
        ray_indices: packed layout only: ``(n,)`` sorted ray id of each sample.
        starts: packed layout only: ``(n_rays,)`` index of each ray's first sample
            (from :func:`chunks_from_ray_indices`; derived here, with the sortedness check, when ``None``).

    Returns:
        ``weights, transmittance, alphas``, each shaped like ``sigmas``; ``transmittance`` is
        ``T_i = exp(-sum_{j<i} sigma_j delta_j)`` over the earlier samples of the same ray.

    Raises:
        ValueError: ``deltas`` shaped unlike ``sigmas``; dense input that is not 2-D; packed input
            (``ray_indices`` given) that is not 1-D or whose ``ray_indices`` differ in length.

    Examples:
        >>> w, T, a = render_weights(torch.tensor([[1.0, 1.0]]), torch.tensor([[1.0, 1.0]]))
        >>> [round(v, 4) for v in w[0].tolist()]  # (1 - e^-1), e^-1 (1 - e^-1)
        [0.6321, 0.2325]

    Explained in notebooks/01_volume_rendering.ipynb.
    """
    if deltas.shape != sigmas.shape:
        raise ValueError(
            f"deltas {tuple(deltas.shape)} must be shaped like sigmas {tuple(sigmas.shape)} "
            "(one interval length t_end - t_start per sample)"
        )
    if ray_indices is None and sigmas.dim() != 2:
        raise ValueError(
            f"dense sigmas must be (n_rays, n_samples), got {tuple(sigmas.shape)}; "
            "for packed (n,) samples pass their ray_indices"
        )
    if ray_indices is not None and (sigmas.dim() != 1 or ray_indices.shape != sigmas.shape):
        raise ValueError(
            f"packed sigmas and ray_indices must both be (n,), got {tuple(sigmas.shape)} and "
            f"{tuple(ray_indices.shape)}; dense (n_rays, n_samples) samples take no ray_indices"
        )
    tau = sigmas * deltas  # optical depth of each interval
    if ray_indices is None:
        excl = torch.cumsum(tau, -1) - tau  # exclusive sum along each ray: optical depth before the interval
    else:
        if starts is None:
            starts = chunks_from_ray_indices(ray_indices, int(ray_indices.max()) + 1 if ray_indices.numel() else 0)[0]
        excl = packed_exclusive_sum(tau, ray_indices, starts)
    alphas = 1.0 - torch.exp(-tau)
    transmittance = torch.exp(-excl)
    return transmittance * alphas, transmittance, alphas


def _background(background, n_rays: int, like: torch.Tensor) -> Optional[torch.Tensor]:
    if background is None:
        return None
    bg = torch.as_tensor(background, dtype=like.dtype, device=like.device)
    if bg.shape not in ((3,), (n_rays, 3)):
        raise ValueError(f"background must be (3,) or (n_rays, 3) = ({n_rays}, 3), got {tuple(bg.shape)}")
    return bg


def composite(rgbs: torch.Tensor, sigmas: torch.Tensor, samples: RaySamples, background=None) -> RenderOutput:
    """Alpha-composite dense samples into pixels (PyTorch reference).

    Args:
        rgbs: ``(n_rays, n_samples, 3)`` colours in [0, 1].
        sigmas: ``(n_rays, n_samples)`` densities.
        samples: :class:`RaySamples` with fields ``(n_rays, n_samples)``.
        background: ``(3,)`` or ``(n_rays, 3)`` colour behind the scene; ``None`` is black.

    Returns:
        :class:`RenderOutput`: ``rgb = sum w_i c_i + (1 - opacity) * background``,
        ``depth = sum w_i t_mid_i`` (not divided by opacity), ``opacity = sum w_i``.

    Explained in notebooks/01_volume_rendering.ipynb.
    """
    if sigmas.shape != samples.t_starts.shape or rgbs.shape != (*sigmas.shape, 3):
        raise ValueError(
            f"expected sigmas {tuple(samples.t_starts.shape)} and rgbs (..., 3) to match the samples; "
            f"got sigmas {tuple(sigmas.shape)}, rgbs {tuple(rgbs.shape)}"
        )
    weights, trans, _ = render_weights(sigmas, samples.deltas)
    rgb = (weights[..., None] * rgbs).sum(-2)  # (n_rays, 3)
    opacity = weights.sum(-1)
    depth = (weights * samples.t_mids).sum(-1)
    bg = _background(background, rgb.shape[0], rgb)
    if bg is not None:
        rgb = rgb + (1.0 - opacity)[:, None] * bg
    return RenderOutput(rgb, depth, opacity, weights, trans)


def chunks_from_ray_indices(ray_indices: torch.Tensor, n_rays: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(start, count)`` per ray, ``(n_rays,)`` each, from sorted packed ``ray_indices: (n,)``."""
    if ray_indices.numel() and bool((ray_indices[1:] < ray_indices[:-1]).any()):
        raise ValueError("ray_indices must be sorted (all samples of a ray contiguous, rays in order)")
    if ray_indices.numel() and (int(ray_indices.min()) < 0 or int(ray_indices.max()) >= n_rays):
        raise ValueError(f"ray_indices must lie in [0, n_rays={n_rays})")
    counts = torch.bincount(ray_indices.long(), minlength=n_rays)
    starts = torch.cumsum(counts, 0) - counts
    return starts, counts


def ray_indices_from_chunks(counts: torch.Tensor) -> torch.Tensor:
    """Packed ``ray_indices (sum(counts),)`` from per-ray sample ``counts (n_rays,)``."""
    return torch.repeat_interleave(torch.arange(counts.numel(), device=counts.device), counts.long())


def packed_exclusive_sum(values: torch.Tensor, ray_indices: torch.Tensor, starts: torch.Tensor) -> torch.Tensor:
    """Per-ray exclusive prefix sum of packed ``values: (n,)`` (accumulated in float64 for stability)."""
    excl = torch.cumsum(values.double(), 0) - values.double()  # (n,) global exclusive sum
    first = starts.long()[ray_indices.long()]  # (n,) index of each sample's first sample in its ray
    return (excl - excl[first]).to(values.dtype)  # subtract everything before the ray


def composite_packed(
    rgbs: torch.Tensor,
    sigmas: torch.Tensor,
    t_starts: torch.Tensor,
    t_ends: torch.Tensor,
    ray_indices: torch.Tensor,
    n_rays: int,
    t_mids: Optional[torch.Tensor] = None,
    background=None,
    backend: str = "auto",
) -> RenderOutput:
    """Alpha-composite packed (ragged) samples, e.g. from occupancy-grid marching.

    Args:
        rgbs: ``(n, 3)`` colours.
        sigmas: ``(n,)`` densities.
        t_starts, t_ends: ``(n,)`` interval bounds.
        ray_indices: ``(n,)`` sorted ray id of each sample.
        n_rays: number of rays (rays without samples render the background).
        t_mids: ``(n,)`` evaluation points for depth (default: interval midpoints).
        background: ``(3,)`` or ``(n_rays, 3)``; ``None`` is black.
        backend: ``"auto" | "torch" | "cpu" | "cuda"`` (see the module docstring); a kernel that
            cannot be built falls back to the reference after one warning.

    Returns:
        :class:`RenderOutput` with per-ray fields ``(n_rays, ...)`` and packed ``weights, transmittance: (n,)``.

    Explained in notebooks/01_volume_rendering.ipynb.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    n = sigmas.shape[0]
    for name, tensor, shape in (
        ("rgbs", rgbs, (n, 3)),
        ("t_starts", t_starts, (n,)),
        ("t_ends", t_ends, (n,)),
        ("ray_indices", ray_indices, (n,)),
    ):
        if tuple(tensor.shape) != shape:
            raise ValueError(f"{name} must have shape {shape} to match sigmas (n,) = ({n},), got {tuple(tensor.shape)}")
    t_mids = 0.5 * (t_starts + t_ends) if t_mids is None else t_mids
    starts, counts = chunks_from_ray_indices(ray_indices, n_rays)
    deltas = t_ends - t_starts
    if backend == "cuda" and not sigmas.is_cuda:
        raise ValueError("backend='cuda' needs CUDA tensors; move them with .cuda() or use backend='torch'")
    if backend == "cpu" and sigmas.device.type != "cpu":
        raise ValueError("backend='cpu' needs CPU tensors; move them with .cpu() or use backend='auto'")
    if backend != "torch":
        from .kernels import composite as kc  # local import: keeps `import rendering` cheap

        impl = kc.resolve_impl(backend, sigmas, rgbs, deltas, t_mids)
        if impl != "twin":
            rgb, depth, opacity, weights, trans = kc.composite_packed_fn(
                sigmas, rgbs, deltas, t_mids, ray_indices, starts, counts, impl=impl
            )
            return _finish(rgb, depth, opacity, weights, trans, background)
    weights, trans, _ = render_weights(sigmas, deltas, ray_indices, starts)
    idx = ray_indices.long()
    rgb = torch.zeros(n_rays, 3, dtype=rgbs.dtype, device=rgbs.device).index_add(0, idx, weights[:, None] * rgbs)
    opacity = torch.zeros(n_rays, dtype=sigmas.dtype, device=sigmas.device).index_add(0, idx, weights)
    depth = torch.zeros(n_rays, dtype=sigmas.dtype, device=sigmas.device).index_add(0, idx, weights * t_mids)
    return _finish(rgb, depth, opacity, weights, trans, background)


def _finish(rgb, depth, opacity, weights, trans, background) -> RenderOutput:
    bg = _background(background, rgb.shape[0], rgb)
    if bg is not None:
        rgb = rgb + (1.0 - opacity)[:, None] * bg
    return RenderOutput(rgb, depth, opacity, weights, trans)


def dense_to_packed(samples: RaySamples, *values: torch.Tensor):
    """Flatten dense samples into the packed layout (every ray keeps all its samples).

    Args:
        samples: fields ``(n_rays, n_samples)``.
        *values: tensors ``(n_rays, n_samples, ...)`` to flatten alongside.

    Returns:
        ``(t_starts, t_ends, t_mids, ray_indices, *flat_values)``, each with leading dim ``n_rays * n_samples``.
    """
    n_rays, n_samples = samples.t_starts.shape
    ray_indices = torch.arange(n_rays, device=samples.t_starts.device).repeat_interleave(n_samples)
    flat = [v.reshape(n_rays * n_samples, *v.shape[2:]) for v in values]
    return (samples.t_starts.reshape(-1), samples.t_ends.reshape(-1), samples.t_mids.reshape(-1), ray_indices, *flat)


def render_rays(
    field,
    rays_o: torch.Tensor,
    rays_d: torch.Tensor,
    near: torch.Tensor,
    far: torch.Tensor,
    n_samples: int = 64,
    n_importance: int = 0,
    background=None,
    jitter: bool = False,
    generator: Optional[torch.Generator] = None,
) -> RenderOutput:
    """Render rays through a field: stratified samples, optionally a hierarchical fine pass, composite.

    Args:
        field: maps sample ``points (m, 3)`` and their rays' ``rays_d (m, 3)`` to ``sigmas (m,), rgbs (m, 3)``.
        rays_o, rays_d: ``(n_rays, 3)``.
        near, far: ``(n_rays,)`` e.g. from :func:`ray_aabb`.
        n_samples: stratified (coarse) samples per ray.
        n_importance: extra samples drawn from the coarse weights (0: single pass). The same
            field answers both passes (as in Instant-NGP-style models; NeRF used two networks).
        background: ``(3,)`` or ``(n_rays, 3)``.
        jitter: jitter the strata (training).

    Returns:
        :class:`RenderOutput` of the last pass (dense fields ``(n_rays, n_samples [+ n_importance])``).

    Explained in notebooks/01_volume_rendering.ipynb.
    """
    samples = sample_stratified(near, far, n_samples, jitter=jitter, generator=generator)
    passes = [samples]
    if n_importance > 0:
        with torch.no_grad():
            sigmas, _ = _query(field, samples, rays_o, rays_d)
            weights = render_weights(sigmas, samples.deltas)[0]
        passes = [
            sample_importance(samples, weights, n_importance, near, far, deterministic=not jitter, generator=generator)
        ]
    sigmas, rgbs = _query(field, passes[-1], rays_o, rays_d)
    return composite(rgbs, sigmas, passes[-1], background=background)


def _query(field, samples: RaySamples, rays_o: torch.Tensor, rays_d: torch.Tensor):
    n_rays, n = samples.t_mids.shape
    pts = samples.points(rays_o, rays_d).reshape(-1, 3)  # (n_rays * n, 3)
    dirs = rays_d[:, None, :].expand(n_rays, n, 3).reshape(-1, 3)
    sigmas, rgbs = field(pts, dirs)
    return sigmas.reshape(n_rays, n), rgbs.reshape(n_rays, n, 3)


# ----------------------------------------------------------------------------- whole images


def march_step_size(aabb, n_samples: int) -> float:
    """Marching step of ``n_samples`` steps along the diagonal of ``aabb (6,)``."""
    box = torch.as_tensor(aabb, dtype=torch.float32)
    return float((box[3:] - box[:3]).norm()) / n_samples


def render_marched(
    field: Callable,
    rays_o: torch.Tensor,
    rays_d: torch.Tensor,
    grid,
    step_size: float,
    background,
    jitter: bool = False,
    generator: Optional[torch.Generator] = None,
):
    """Render rays with empty-space skipping: occupancy-grid marching -> field on packed samples -> composite.

    Args:
        field: ``points (m, 3), rays_d (m, 3) -> sigmas (m,), rgbs (m, 3)``.
        rays_o, rays_d: ``(n_rays, 3)``.
        grid: an :class:`~talkface_lite.occupancy.OccupancyGrid`.
        step_size: marching step.
        background: ``(3,)`` tensor.

    Returns:
        :class:`~talkface_lite.rendering.RenderOutput` (packed weights) and the number of samples evaluated.
    """
    s = grid.march(rays_o, rays_d, step_size, jitter=jitter, generator=generator)
    mids = 0.5 * (s.t_starts + s.t_ends)
    o, d = rays_o[s.ray_indices], rays_d[s.ray_indices]  # (m, 3)
    sigmas, rgbs = field(o + mids[:, None] * d, d)
    out = composite_packed(
        rgbs, sigmas, s.t_starts, s.t_ends, s.ray_indices, rays_o.shape[0], t_mids=mids, background=background
    )
    return out, int(s.t_starts.numel())


@torch.no_grad()
def render_image(
    field: Callable,
    intrinsics,
    c2w: torch.Tensor,
    height: int,
    width: int,
    aabb,
    n_samples: int,
    n_importance: int = 0,
    background=(1.0, 1.0, 1.0),
    chunk: int = 4096,
    grid=None,
):
    """Render ``(height, width, 3)`` colour and ``(height, width)`` depth/opacity of a field, in ray chunks.

    With an occupancy ``grid``, samples are marched with step ``box diagonal / n_samples`` and empty cells skipped.
    """
    o, d = camera_rays(intrinsics, c2w, height, width)
    o, d = o.reshape(-1, 3), d.reshape(-1, 3)
    near, far, _ = ray_aabb(o, d, aabb)
    bg = torch.tensor(background)
    if grid is not None:
        step = march_step_size(aabb, n_samples)
        outs = [
            render_marched(field, o[i : i + chunk], d[i : i + chunk], grid, step, bg)[0]
            for i in range(0, o.shape[0], chunk)
        ]
    else:
        outs = [
            render_rays(
                field,
                o[i : i + chunk],
                d[i : i + chunk],
                near[i : i + chunk],
                far[i : i + chunk],
                n_samples,
                n_importance,
                background=bg,
            )
            for i in range(0, o.shape[0], chunk)
        ]
    rgb = torch.cat([r.rgb for r in outs]).reshape(height, width, 3)
    depth = torch.cat([r.depth for r in outs]).reshape(height, width)
    opacity = torch.cat([r.opacity for r in outs]).reshape(height, width)
    return rgb, depth, opacity


__all__ = [
    "BACKENDS",
    "RaySamples",
    "RenderOutput",
    "camera_rays",
    "chunks_from_ray_indices",
    "composite",
    "composite_packed",
    "dense_to_packed",
    "intervals_from_points",
    "march_step_size",
    "packed_exclusive_sum",
    "pixel_rays",
    "ray_aabb",
    "ray_indices_from_chunks",
    "render_image",
    "render_marched",
    "render_rays",
    "render_weights",
    "sample_importance",
    "sample_pdf",
    "sample_stratified",
]
