"""Training and rendering speed of the talking-head field: steps/s, rays/s, and where a step's time goes.

1. Warms a run up for ``--warmup`` coarse steps on the synthetic speaker (so the occupancy grid has
   emptied as in real training), QUICK: 30 s at 128x128 on the CPU; FULL: 30 s at 512x512.
2. Times ``--steps`` real coarse steps and fine steps (forward, backward, Adam) with the trainer's own
   step function: steps/s and rays/s of each stage.
3. Splits one coarse step into its parts, each timed alone (forward + backward) on that step's own
   samples: marching the occupancy grid, the spatial encoding (tri-plane hash), the landmark code,
   the MLPs, compositing; the rest of the step (ray sampling, audio encoder, Adam) is "other".
4. Renders held-out frames: frames/s at the dataset's resolution.

Writes ``figures/bench_train.{csv,md}`` through :mod:`talkface_lite.viz` (the manifest records the
device and commit). Numbers are medians; on shared machines compare the shares, not the seconds.

    python benchmarks/bench_train.py --device auto [--quick | --full]

Explained in notebooks/07_two_stage_training.ipynb.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time

import torch

from talkface_lite import rendering, repro, viz
from talkface_lite.data.dataset import load_dataset
from talkface_lite.data.synthetic import cached_speaker
from talkface_lite.encoding.spherical import sh_encode
from talkface_lite.perceptual import load_lpips
from talkface_lite.training import TrainConfig, train
from talkface_lite.training.talking_head import _step_function


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device, repeats: int) -> float:
    fn()
    sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def fwd_bwd(fn, *inputs):
    """Run ``fn`` on fresh leaf copies of ``inputs`` and back-propagate a fixed random cotangent."""
    leaves = [x.detach().requires_grad_(x.is_floating_point()) for x in inputs]
    out = fn(*leaves)
    outs = out if isinstance(out, tuple) else (out,)
    torch.autograd.backward([o for o in outs if o.requires_grad], [torch.ones_like(o) for o in outs if o.requires_grad])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", dest="quick", action="store_true", default=None)
    mode.add_argument("--full", dest="quick", action="store_false")
    parser.add_argument("--warmup", type=int, default=None, help="coarse steps before measuring (default 500 / 2000)")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per stage")
    parser.add_argument("--frames", type=int, default=10, help="frames rendered for frames/s")
    parser.add_argument("--name", default="bench_train", help="artifact stem in figures/")
    args = parser.parse_args(argv)
    quick = repro.is_quick_default() if args.quick is None else args.quick
    run = repro.start_run("bench_train", quick=quick, device=args.device, seed=0)
    device = run.device
    size = 128 if quick else 512
    warmup = args.warmup if args.warmup is not None else (500 if quick else 2000)
    config = TrainConfig.quick() if quick else TrainConfig.full()
    ds = load_dataset(cached_speaker(seconds=30, size=size, seed=0, val_fraction=0.2))

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        head = train(
            ds.root, f"{tmp}/run", dataclasses.replace(config, coarse_steps=warmup, fine_steps=0), device=args.device
        )
        warm_s = time.perf_counter() - t0
    head.field.train()
    groups = head.field.parameter_groups()
    opt = torch.optim.Adam(
        [{"params": groups["grids"], "lr": config.lr_grids}, {"params": groups["mlps"], "lr": config.lr_mlps}],
        betas=(0.9, 0.99),
        eps=1e-15,
    )
    gen = torch.Generator().manual_seed(1)
    rows = []

    def stage_rate(cfg, stage, rays_per_step, lpips_net=None):
        fn = _step_function(head, cfg, gen, lpips_net)
        counter = {"step": 1}  # never a grid-update step inside the timing: those are timed below

        def one():
            terms = fn(counter["step"])
            counter["step"] += 1
            opt.zero_grad(set_to_none=True)
            terms["loss"].backward()
            opt.step()
            return terms

        sec = timed(one, device, args.steps)
        rows.append(
            {
                "what": f"{stage} step",
                "ms": round(1e3 * sec, 2),
                "steps_per_s": round(1 / sec, 2),
                "rays_per_s": round(rays_per_step / sec),
                "share": "",
            }
        )
        print(f"{stage:>6}: {1e3 * sec:8.1f} ms/step, {1 / sec:6.2f} steps/s, {rays_per_step / sec:10,.0f} rays/s")
        return sec

    coarse_cfg = dataclasses.replace(config, grid_update_every=10**9)
    step_s = stage_rate(coarse_cfg, "coarse", config.n_rays)
    fine_cfg = dataclasses.replace(config, coarse_steps=0, grid_update_every=10**9)
    stage_rate(fine_cfg, "fine", config.patches * config.patch_size**2, load_lpips(config.lpips_kind, device=device))
    update_s = timed(lambda: head.update_grid(gen), device, 3)
    rows.append(
        {
            "what": "occupancy update (every %d steps)" % config.grid_update_every,
            "ms": round(1e3 * update_s, 2),
            "steps_per_s": "",
            "rays_per_s": "",
            "share": "",
        }
    )

    # one coarse batch, split into its parts
    i = int(ds.train_idx[0])
    b = ds.sample_rays(
        config.n_rays,
        frame=i,
        face_fraction=config.face_fraction,
        audio_kind=None,
        regions={"mouth": config.mouth_fraction, "eyes": config.eye_fraction},
        generator=gen,
    )
    o, d = b["rays_o"].to(device), b["rays_d"].to(device)
    s = head.grid.march(o, d, head.step_size, jitter=True, generator=gen)
    mids = 0.5 * (s.t_starts + s.t_ends)
    pts = o[s.ray_indices] + mids[:, None] * d[s.ray_indices]
    dirs = d[s.ray_indices]
    f = head.field
    with torch.no_grad():
        cond = head.condition(i)
        norm = (pts - f.centre) / f.half_size
        h_in = f.density_input(pts, cond)
        sig, rgb = f(pts, dirs, cond)
    cond_nograd = cond

    def mlps(x):
        hh = f.density_net(x)
        parts = [hh[:, 1:], sh_encode(dirs, f.config.sh_degree)] if f.config.sh_degree else [hh[:, 1:]]
        if cond_nograd.latent is not None:
            parts.append(cond_nograd.latent.detach().expand(x.shape[0], -1))
        return hh[:, 0], f.colour_net(torch.cat(parts, -1))

    parts = {
        "marching": lambda: head.grid.march(o, d, head.step_size, jitter=True, generator=gen),
        "spatial encoding": lambda: fwd_bwd(f.spatial, norm),
        "landmark code": (lambda: fwd_bwd(lambda p: f.landmark(p, cond_nograd.landmarks.detach()), pts))
        if f.landmark is not None
        else (lambda: None),
        "MLPs": lambda: fwd_bwd(mlps, h_in),
        "compositing": lambda: fwd_bwd(
            lambda sg, c: (
                rendering.composite_packed(
                    c, sg, s.t_starts, s.t_ends, s.ray_indices, o.shape[0], background=b["background"].to(device)
                ).rgb
            ),
            sig,
            rgb,
        ),
    }
    total = 0.0
    for name, fn in parts.items():
        sec = timed(fn, device, 10)
        total += sec
        rows.append(
            {
                "what": f"coarse step: {name}",
                "ms": round(1e3 * sec, 2),
                "steps_per_s": "",
                "rays_per_s": "",
                "share": f"{sec / step_s:.0%}",
            }
        )
    rows.append(
        {
            "what": "coarse step: other (sampling, audio encoder, Adam)",
            "ms": round(1e3 * (step_s - total), 2),
            "steps_per_s": "",
            "rays_per_s": "",
            "share": f"{max(0.0, 1 - total / step_s):.0%}",
        }
    )
    rows.append(
        {
            "what": f"samples per coarse step ({pts.shape[0] / config.n_rays:.1f} per ray)",
            "ms": "",
            "steps_per_s": "",
            "rays_per_s": "",
            "share": pts.shape[0],
        }
    )

    head.field.eval()
    frames = ds.val_idx[: args.frames].tolist()
    head.render_frame(frames[0])
    sync(device)
    t0 = time.perf_counter()
    for k in frames:
        head.render_frame(k)
    sync(device)
    fps = len(frames) / (time.perf_counter() - t0)
    rows.append(
        {
            "what": f"render {ds.height}x{ds.width} frame",
            "ms": round(1e3 / fps, 2),
            "steps_per_s": "",
            "rays_per_s": round(fps * ds.height * ds.width),
            "share": f"{fps:.1f} frames/s",
        }
    )
    rows.append(
        {
            "what": f"warm-up: {warmup} coarse steps",
            "ms": round(1e3 * warm_s),
            "steps_per_s": round(warmup / warm_s, 2),
            "rays_per_s": round(warmup * config.n_rays / warm_s),
            "share": "",
        }
    )
    for r in rows:
        print(f"{r['what']:60s} {r['ms']!s:>10} ms  {r['share']!s:>8}")
    viz.save_table(rows, args.name, columns=["what", "ms", "steps_per_s", "rays_per_s", "share"])
    run.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
