"""Fitting a static NeRF to posed images: random ray batches, MSE, Adam, one training loop.

Explained in notebooks/03_triplane_nerf.ipynb.
"""

from __future__ import annotations

import time
from typing import Dict, Optional, Sequence

import torch

from .. import rendering
from ..metrics import psnr
from ..models.layers import count_parameters
from ..models.static_nerf import StaticNeRF
from .loop import decay_schedule, fit
from .memory import SavedTensorMeter


def fit_static_nerf(
    model: StaticNeRF,
    images: torch.Tensor,
    poses: torch.Tensor,
    intrinsics,
    aabb,
    steps: int,
    n_rays: int = 512,
    n_samples: int = 32,
    lr_encoding: float = 1e-2,
    lr_mlp: float = 5e-3,
    eval_views: Optional[Sequence[int]] = None,
    eval_every: int = 50,
    background=(1.0, 1.0, 1.0),
    occupancy_resolution: int = 0,
    update_every: int = 16,
    generator: Optional[torch.Generator] = None,
    progress: bool = True,
    desc: str = "fit",
) -> Dict[str, list]:
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
    opt = torch.optim.Adam(
        [{"params": model.encoding_parameters(), "lr": lr_encoding}, {"params": model.mlp_parameters(), "lr": lr_mlp}],
        betas=(0.9, 0.99),
        eps=1e-15,
    )
    hist: Dict[str, list] = {"step": [], "psnr_eval": [], "wall_s": []}  # "step": evaluation steps
    grid = None
    if occupancy_resolution:
        from ..occupancy import OccupancyGrid

        grid = OccupancyGrid(aabb, resolution=occupancy_resolution, decay=0.95, density_threshold=10.0, device=device)
    step_size = rendering.march_step_size(aabb, n_samples)
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    peak_saved = 0
    t0 = time.perf_counter()

    def evaluate(step):
        model.eval()
        vals = [
            psnr(
                rendering.render_image(
                    model, intrinsics, poses[v], height, width, aabb, n_samples, background=background, grid=grid
                )[0].cpu(),
                images[v],
            )
            for v in eval_views
        ]
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
                out, n_pts = rendering.render_marched(
                    model, o[idx], d[idx], grid, step_size, bg, jitter=True, generator=generator
                )
            else:
                out = rendering.render_rays(
                    model,
                    o[idx],
                    d[idx],
                    near[idx],
                    far[idx],
                    n_samples,
                    background=bg,
                    jitter=True,
                    generator=generator,
                )
                n_pts = n_rays * n_samples
            loss = ((out.rgb - target[idx]) ** 2).mean()
        peak_saved = max(peak_saved, meter.bytes)
        return {"loss": loss, "samples": n_pts}

    # fit's own history (every training step) is kept apart: the returned "step" lists evaluation steps
    per_step = fit(
        step_fn, opt, steps, scheduler=decay_schedule(opt, steps, kind="exp"), progress=progress, desc=desc, leave=True
    )
    if eval_views:
        evaluate(steps)
    hist["loss"] = per_step.get("loss", [])
    hist["samples"] = [int(n) for n in per_step.get("samples", [])]
    state = 4 * sum(p.numel() * p.element_size() for p in model.parameters())
    hist["activation_mb"] = [peak_saved / 2**20]
    hist["state_mb"] = [state / 2**20]
    hist["peak_mem_mb"] = [(torch.cuda.max_memory_allocated(device) if cuda else peak_saved + state) / 2**20]
    hist["n_params"] = [count_parameters(model)]
    return hist


__all__ = ["fit_static_nerf"]
