"""A small static NeRF on a pluggable encoding (tri-plane hash or 3D hash grid), and how to fit it.

The field is ER-NeRF's head network without audio, eyes or per-frame codes
(paper Eq. 5 with those inputs removed)::

    f = Enc(x)                                    # TriPlane: H_xy ⊕ H_yz ⊕ H_xz (Eq. 4), or a 3D HashGrid
    sigma, g = DensityMLP(f)                      # sigma = exp(raw), gradient clamped (truncated exp)
    rgb = sigmoid(ColourMLP(g [, view dir]))

Notebook 03 fits it to posed images of :class:`EllipsoidHead`, a procedural
head of soft coloured ellipsoids rendered with :mod:`talkface_lite.rendering`
from known cameras, and compares a tri-plane with a 3D hash grid of the same
number of parameters.

Explained in notebooks/03_triplane_nerf.ipynb.
"""
from __future__ import annotations

import math
import time
from typing import Callable, Dict, Optional, Sequence

import torch
from torch import nn

from .. import rendering
from ..training.loop import decay_schedule, fit


class _TruncExp(torch.autograd.Function):
    """``exp(x)`` whose gradient uses ``exp(min(x, 15))`` (Instant-NGP's density activation)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.exp(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * torch.exp(x.clamp(max=15.0))


def trunc_exp(x: torch.Tensor) -> torch.Tensor:
    """Density activation: ``exp`` forward, gradient clamped at ``exp(15)``."""
    return _TruncExp.apply(x)


class BoxEncoding(nn.Module):
    """Adapts an encoder of ``[0, 1]^3`` inputs (a 3D :class:`HashGrid`) to points in ``[-bound, bound]^3``."""

    def __init__(self, encoder: nn.Module, bound: float = 1.0):
        super().__init__()
        self.encoder = encoder
        self.bound = float(bound)
        self.n_output_dims = encoder.n_output_dims

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        return self.encoder((points + self.bound) / (2 * self.bound))


def _mlp(n_in: int, hidden: int, n_out: int, n_layers: int) -> nn.Sequential:
    layers, width = [], n_in
    for _ in range(n_layers - 1):
        layers += [nn.Linear(width, hidden), nn.ReLU(inplace=True)]
        width = hidden
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


class StaticNeRF(nn.Module):
    """Encoding -> density MLP -> colour MLP.

    Args:
        encoding: module mapping points ``(n, 3)`` in ``[-bound, bound]`` to ``(n, n_output_dims)``
            (a :class:`~talkface_lite.encoding.triplane.TriPlane`, or a 3D hash grid in :class:`BoxEncoding`).
        hidden: MLP width (ER-NeRF: 64).
        geo_features: features passed from the density to the colour MLP.
        n_density_layers, n_colour_layers: linear layers per MLP (ER-NeRF: 3 and 2).
        view_dependent: feed the unit view direction to the colour MLP.

    Explained in notebooks/03_triplane_nerf.ipynb.
    """

    def __init__(self, encoding: nn.Module, hidden: int = 64, geo_features: int = 15, n_density_layers: int = 2,
                 n_colour_layers: int = 2, view_dependent: bool = False):
        super().__init__()
        if not hasattr(encoding, "n_output_dims"):
            raise TypeError("encoding must expose n_output_dims (TriPlane, or HashGrid wrapped in BoxEncoding)")
        self.encoding = encoding
        self.view_dependent = view_dependent
        self.density_net = _mlp(encoding.n_output_dims, hidden, 1 + geo_features, n_density_layers)
        self.colour_net = _mlp(geo_features + (3 if view_dependent else 0), hidden, 3, n_colour_layers)

    def encoding_parameters(self):
        return list(self.encoding.parameters())

    def mlp_parameters(self):
        return list(self.density_net.parameters()) + list(self.colour_net.parameters())

    def density(self, points: torch.Tensor) -> torch.Tensor:
        """``sigma: (n,)`` at ``points: (n, 3)``."""
        return trunc_exp(self.density_net(self.encoding(points))[:, 0])

    def forward(self, points: torch.Tensor, directions: Optional[torch.Tensor] = None):
        """``points, directions: (n, 3)`` -> ``sigma (n,), rgb (n, 3)``."""
        h = self.density_net(self.encoding(points))  # (n, 1 + geo_features)
        sigma = trunc_exp(h[:, 0])
        g = h[:, 1:]
        if self.view_dependent:
            if directions is None:
                raise ValueError("this model is view dependent: pass directions (n, 3)")
            g = torch.cat([g, directions], -1)
        return sigma, torch.sigmoid(self.colour_net(g))


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def matched_hashgrid_log2(target_params: int, n_levels: int, n_features_per_level: int, base_resolution: int,
                          finest_resolution: float) -> int:
    """``log2_hashmap_size`` of a 3D HashGrid whose parameter count is closest to ``target_params``."""
    from ..encoding.hashgrid import HashGridConfig

    best = min(range(8, 25), key=lambda t: abs(HashGridConfig.from_finest(
        3, finest_resolution, n_levels=n_levels, n_features_per_level=n_features_per_level, log2_hashmap_size=t,
        base_resolution=base_resolution).n_params * n_features_per_level - target_params))
    return best


# ----------------------------------------------------------------------------- a procedural scene


def look_at(eye, target=(0.0, 0.0, 0.0), down=(0.0, 1.0, 0.0)) -> torch.Tensor:
    """OpenCV camera-to-world ``(4, 4)`` at ``eye`` looking at ``target`` (camera y towards world ``down``)."""
    eye, target, down = (torch.as_tensor(v, dtype=torch.float32) for v in (eye, target, down))
    fwd = target - eye
    fwd = fwd / fwd.norm()
    right = torch.linalg.cross(down, fwd)
    if right.norm() < 1e-6:
        raise ValueError("look_at: the viewing direction is parallel to `down`; pick another `down` vector")
    right = right / right.norm()
    c2w = torch.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, torch.linalg.cross(fwd, right), fwd, eye
    return c2w


def orbit_poses(n: int, radius: float = 3.0, max_yaw_deg: float = 40.0, max_pitch_deg: float = 15.0) -> torch.Tensor:
    """``(n, 4, 4)`` cameras on a sphere in front of the face (-z side), looking at the origin."""
    k = torch.arange(n, dtype=torch.float32)
    yaw = torch.deg2rad(max_yaw_deg * torch.cos(2 * math.pi * k / n))  # a Lissajous path over the frontal cap
    pitch = torch.deg2rad(max_pitch_deg * torch.sin(4 * math.pi * k / n + 0.5))
    eyes = torch.stack([radius * torch.sin(yaw) * torch.cos(pitch), radius * torch.sin(pitch),
                        -radius * torch.cos(yaw) * torch.cos(pitch)], -1)
    return torch.stack([look_at(e) for e in eyes])


class EllipsoidHead:
    """A head of soft coloured ellipsoids (skull, hair cap, eyes with irises, nose, lips); y points down.

    ``__call__(points (n, 3), dirs=None) -> sigma (n,), rgb (n, 3)``: density
    ``peak * sigmoid(-d / softness)`` summed over parts, with ``d`` the scaled
    distance ``(|(p - c) / r| - 1) * min(r)``; the colour is that of the part the
    point is most inside.
    """

    PARTS = (  # centre xyz, radii xyz, colour rgb
        ((0.0, 0.0, 0.0), (0.55, 0.7, 0.6), (0.93, 0.74, 0.62)),        # skull/face
        ((0.0, -0.28, 0.08), (0.6, 0.5, 0.6), (0.3, 0.18, 0.1)),         # hair cap (behind/above)
        ((-0.2, -0.12, -0.5), (0.11, 0.08, 0.08), (0.97, 0.97, 0.97)),   # eye whites
        ((0.2, -0.12, -0.5), (0.11, 0.08, 0.08), (0.97, 0.97, 0.97)),
        ((-0.2, -0.12, -0.57), (0.05, 0.05, 0.03), (0.15, 0.3, 0.5)),    # irises
        ((0.2, -0.12, -0.57), (0.05, 0.05, 0.03), (0.15, 0.3, 0.5)),
        ((0.0, 0.08, -0.6), (0.07, 0.14, 0.1), (0.88, 0.6, 0.5)),        # nose
        ((0.0, 0.33, -0.5), (0.2, 0.06, 0.08), (0.75, 0.2, 0.25)),       # lips
    )

    def __init__(self, peak: float = 40.0, softness: float = 0.02):
        self.centres = torch.tensor([p[0] for p in self.PARTS])
        self.radii = torch.tensor([p[1] for p in self.PARTS])
        self.colours = torch.tensor([p[2] for p in self.PARTS])
        self.peak, self.softness = peak, softness

    def __call__(self, points: torch.Tensor, dirs: Optional[torch.Tensor] = None):
        rel = (points[:, None, :].float() - self.centres) / self.radii  # (n, parts, 3)
        d = (rel.norm(dim=-1) - 1.0) * self.radii.amin(-1)  # (n, parts) approx. signed distance
        inside = torch.sigmoid(-d / self.softness)
        sigma = self.peak * inside.sum(-1)
        return sigma.to(points.dtype), self.colours[d.argmin(-1)].to(points.dtype)


def render_marched(field: Callable, origins: torch.Tensor, directions: torch.Tensor, grid, step_size: float,
                   background, jitter: bool = False, generator: Optional[torch.Generator] = None):
    """Render rays with empty-space skipping: occupancy-grid marching -> field on packed samples -> composite.

    Args:
        field: ``points (m, 3), dirs (m, 3) -> sigma (m,), rgb (m, 3)``.
        origins, directions: ``(n_rays, 3)``.
        grid: an :class:`~talkface_lite.occupancy.OccupancyGrid`.
        step_size: marching step.
        background: ``(3,)`` tensor.

    Returns:
        :class:`~talkface_lite.rendering.RenderOutput` (packed weights) and the number of samples evaluated.
    """
    s = grid.march(origins, directions, step_size, jitter=jitter, generator=generator)
    mids = 0.5 * (s.t_starts + s.t_ends)
    o, d = origins[s.ray_indices], directions[s.ray_indices]  # (m, 3)
    sig, rgb = field(o + mids[:, None] * d, d)
    out = rendering.composite_packed(rgb, sig, s.t_starts, s.t_ends, s.ray_indices, origins.shape[0], t_mids=mids,
                                     background=background)
    return out, int(s.t_starts.numel())


@torch.no_grad()
def render_image(field: Callable, intrinsics, c2w: torch.Tensor, height: int, width: int, aabb,
                 n_samples: int, n_importance: int = 0, background=(1.0, 1.0, 1.0), chunk: int = 4096,
                 grid=None):
    """Render ``(height, width, 3)`` colour and ``(height, width)`` depth/opacity of a field, in ray chunks.

    With an occupancy ``grid``, samples are marched with step ``box diagonal / n_samples`` and empty cells skipped.
    """
    o, d = rendering.camera_rays(intrinsics, c2w, height, width)
    o, d = o.reshape(-1, 3), d.reshape(-1, 3)
    near, far, _ = rendering.ray_aabb(o, d, aabb)
    bg = torch.tensor(background)
    if grid is not None:
        step = _step_size(aabb, n_samples)
        outs = [render_marched(field, o[i:i + chunk], d[i:i + chunk], grid, step, bg)[0]
                for i in range(0, o.shape[0], chunk)]
    else:
        outs = [rendering.render_rays(field, o[i:i + chunk], d[i:i + chunk], near[i:i + chunk], far[i:i + chunk],
                                      n_samples, n_importance, background=bg)
                for i in range(0, o.shape[0], chunk)]
    rgb = torch.cat([r.rgb for r in outs]).reshape(height, width, 3)
    depth = torch.cat([r.depth for r in outs]).reshape(height, width)
    opacity = torch.cat([r.opacity for r in outs]).reshape(height, width)
    return rgb, depth, opacity


def _step_size(aabb, n_samples: int) -> float:
    box = torch.as_tensor(aabb, dtype=torch.float32)
    return float((box[3:] - box[:3]).norm()) / n_samples


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of images in [0, 1]."""
    return float(-10.0 * torch.log10(((a - b) ** 2).mean().clamp_min(1e-12)))


# ----------------------------------------------------------------------------- fitting


class SavedTensorMeter:
    """Counts the bytes autograd saves for backward inside a ``with`` block (unique storages).

    This is the activation memory a training step holds at its peak, measured the
    same way on CPU and GPU (on a GPU, ``torch.cuda.max_memory_allocated`` is reported too).
    """

    def __init__(self):
        self.bytes = 0
        self._seen = set()

    def _pack(self, t):
        try:
            key = (t.untyped_storage().data_ptr(), t.device)
            if key not in self._seen:
                self._seen.add(key)
                self.bytes += t.untyped_storage().nbytes()
        except (RuntimeError, NotImplementedError):  # tensors without storage (e.g. meta): not counted
            pass
        return t

    def __enter__(self):
        self._ctx = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t)
        self._ctx.__enter__()
        return self

    def __exit__(self, *exc):
        self._ctx.__exit__(*exc)
        return False


def fit_static_nerf(model: StaticNeRF, images: torch.Tensor, poses: torch.Tensor, intrinsics, aabb,
                    steps: int, n_rays: int = 512, n_samples: int = 32, lr_encoding: float = 1e-2,
                    lr_mlp: float = 5e-3, eval_views: Optional[Sequence[int]] = None, eval_every: int = 50,
                    background=(1.0, 1.0, 1.0), occupancy_resolution: int = 0, update_every: int = 16,
                    generator: Optional[torch.Generator] = None, progress: bool = True,
                    desc: str = "fit") -> Dict[str, list]:
    """Fit ``model`` to posed images with random ray batches (MSE, Adam, exponential lr decay).

    Each step (run by :func:`~talkface_lite.training.loop.fit`) evaluates first when it is an
    evaluation step, then draws ``n_rays`` training pixels, refreshes the occupancy grid every
    ``update_every`` steps and renders the rays; all random draws use ``generator`` (or the
    global generator when None), so a seeded run is reproducible.

    Args:
        model: the field.
        images: ``(n_views, H, W, 3)`` targets in [0, 1].
        poses: ``(n_views, 4, 4)`` camera-to-world (OpenCV).
        intrinsics: ``(fx, fy, cx, cy)``.
        aabb: ``(6,)`` box holding the scene (rays are sampled between its near/far).
        steps: optimisation steps.
        n_rays, n_samples: rays per batch, stratified jittered samples per ray.
        lr_encoding, lr_mlp: Adam learning rates (ER-NeRF: 1e-2 grids, 1e-3 MLPs), both decayed
            by 0.1 over the run; betas (0.9, 0.99), eps 1e-15 as Instant-NGP.
        eval_views: indices of held-out views rendered every ``eval_every`` steps (excluded from training).
        background: colour behind the box.
        occupancy_resolution: ``> 0`` keeps an :class:`~talkface_lite.occupancy.OccupancyGrid` of this
            resolution over ``aabb`` (decay 0.95, threshold 10, updated from the model's density every
            ``update_every`` steps, as ER-NeRF) and marches samples with step ``diagonal / n_samples``,
            skipping empty cells; ``0`` samples ``n_samples`` strata between near and far.

    Returns:
        History dict: ``step, psnr_eval, wall_s`` at each evaluation; ``loss`` and ``samples`` per step;
        ``activation_mb`` (largest memory saved for backward in one step), ``state_mb`` (parameters,
        gradients and Adam moments: 4 copies), ``peak_mem_mb`` (their sum; on CUDA the measured
        ``max_memory_allocated``); ``n_params``.

    Explained in notebooks/03_triplane_nerf.ipynb.
    """
    n_views, height, width, _ = images.shape
    if poses.shape != (n_views, 4, 4):
        raise ValueError(f"poses must be (n_views, 4, 4) = ({n_views}, 4, 4), got {tuple(poses.shape)}")
    eval_views = list(eval_views or [])
    train_views = [v for v in range(n_views) if v not in eval_views]
    if not train_views:
        raise ValueError("every view is held out for evaluation; keep at least one for training")
    device = next(model.parameters()).device
    bg = torch.tensor(background, device=device)
    rays = [rendering.camera_rays(intrinsics, poses[v], height, width) for v in train_views]
    o = torch.cat([r[0].reshape(-1, 3) for r in rays]).to(device)  # (n_train_pixels, 3)
    d = torch.cat([r[1].reshape(-1, 3) for r in rays]).to(device)
    target = images[train_views].reshape(-1, 3).to(device)
    near, far, _ = rendering.ray_aabb(o, d, aabb)
    opt = torch.optim.Adam([{"params": model.encoding_parameters(), "lr": lr_encoding},
                            {"params": model.mlp_parameters(), "lr": lr_mlp}], betas=(0.9, 0.99), eps=1e-15)
    hist: Dict[str, list] = {"step": [], "psnr_eval": [], "wall_s": []}  # "step": evaluation steps
    grid = None
    if occupancy_resolution:
        from ..occupancy import OccupancyGrid

        grid = OccupancyGrid(aabb, resolution=occupancy_resolution, decay=0.95, density_threshold=10.0, device=device)
    step_size = _step_size(aabb, n_samples)
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    peak_saved = 0
    t0 = time.perf_counter()

    def evaluate(step):
        model.eval()
        vals = [psnr(render_image(model, intrinsics, poses[v], height, width, aabb, n_samples,
                                  background=background, grid=grid)[0].cpu(), images[v]) for v in eval_views]
        model.train()
        hist["step"].append(step)
        hist["psnr_eval"].append(sum(vals) / len(vals))
        hist["wall_s"].append(time.perf_counter() - t0)

    def step_fn(step: int) -> Dict[str, torch.Tensor]:
        nonlocal peak_saved
        if eval_views and step % eval_every == 0:  # before this step's draws, so the random stream is unchanged
            evaluate(step)
        idx = torch.randint(0, o.shape[0], (n_rays,), generator=generator).to(device)
        if grid is not None and step % update_every == 0:
            grid.update(model.density, generator=generator)
        with SavedTensorMeter() as meter:
            if grid is not None:
                out, n_pts = render_marched(model, o[idx], d[idx], grid, step_size, bg, jitter=True,
                                            generator=generator)
            else:
                out = rendering.render_rays(model, o[idx], d[idx], near[idx], far[idx], n_samples, background=bg,
                                            jitter=True, generator=generator)
                n_pts = n_rays * n_samples
            loss = ((out.rgb - target[idx]) ** 2).mean()
        peak_saved = max(peak_saved, meter.bytes)
        return {"loss": loss, "samples": n_pts}

    # fit's own history (every training step) is kept apart: the returned "step" lists evaluation steps
    per_step = fit(step_fn, opt, steps, scheduler=decay_schedule(opt, steps, kind="exp"), progress=progress,
                   desc=desc, leave=True)
    if eval_views:
        evaluate(steps)
    hist["loss"] = per_step.get("loss", [])
    hist["samples"] = [int(n) for n in per_step.get("samples", [])]
    state = 4 * sum(p.numel() * p.element_size() for p in model.parameters())
    hist["activation_mb"] = [peak_saved / 2 ** 20]
    hist["state_mb"] = [state / 2 ** 20]
    hist["peak_mem_mb"] = [(torch.cuda.max_memory_allocated(device) if cuda else peak_saved + state) / 2 ** 20]
    hist["n_params"] = [count_parameters(model)]
    return hist


__all__ = ["BoxEncoding", "EllipsoidHead", "StaticNeRF", "count_parameters", "fit_static_nerf", "look_at",
           "matched_hashgrid_log2", "orbit_poses", "psnr", "render_image", "render_marched", "trunc_exp"]
