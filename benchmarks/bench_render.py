"""Forward+backward throughput of packed alpha compositing, per backend, over a size sweep.

Backends measured side by side in one run (each where available):

* ``torch``: the PyTorch reference (:func:`talkface_lite.rendering.composite_packed`,
  ``backend="torch"``: autograd through cumsum / index_add) -- the specification;
* ``twin``: the custom autograd Function with the hand-written backward, run by
  its vectorised PyTorch twin (what runs when no kernel is available);
* ``cpu``: ``composite_packed(backend="cpu")``, the same Function running the
  C++ CPU kernel (same entry point and glue as the ``torch`` row);
* ``cuda``: the same Function running the one-thread-per-ray CUDA kernel.

Each timing is the median of ``--repeats`` runs of forward + backward of
``loss = sum(rgb) + sum(depth)`` on rays with a ragged number of samples
(uniform between 0.5x and 1.5x ``--samples``); the backends of one size run
back to back. Writes ``figures/bench_render.csv`` and ``.md`` (and a ``.png``
plot) through :mod:`talkface_lite.viz`, so the manifest records the device
and commit; rows record the torch threads and the 1-minute load average.

    python benchmarks/bench_render.py --device auto [--quick]

Explained in notebooks/01_volume_rendering.ipynb.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

from talkface_lite import rendering, repro, viz
from talkface_lite.kernels import composite as kc
from talkface_lite.progress import tqdm


def make_batch(n_rays: int, mean_samples: int, device, generator: torch.Generator):
    counts = torch.randint(mean_samples // 2, mean_samples * 3 // 2 + 1, (n_rays,), generator=generator)
    ri = rendering.ray_indices_from_chunks(counts)
    n = ri.numel()
    delta = torch.full((n,), 0.01)
    ts = torch.rand(n, generator=generator).sort().values
    sig = 20.0 * torch.rand(n, generator=generator)
    rgb = torch.rand(n, 3, generator=generator)
    starts, cnt = rendering.chunks_from_ray_indices(ri, n_rays)
    return [t.to(device) for t in (sig, rgb, delta, ts, ri, starts, cnt)]


def step(backend: str, batch):
    sig, rgb, delta, ts, ri, starts, cnt = batch
    sig = sig.detach().requires_grad_(True)
    rgb = rgb.detach().requires_grad_(True)
    if backend in ("torch", "cpu"):
        out = rendering.composite_packed(rgb, sig, ts - delta, ts, ri, starts.numel(), t_mids=ts, backend=backend)
        loss = out.rgb.sum() + out.depth.sum()
    else:  # twin / cuda: the autograd Function
        rgb_o, depth, *_ = kc.composite_packed_fn(sig, rgb, delta, ts, ri, starts, cnt, impl=backend)
        loss = rgb_o.sum() + depth.sum()
    loss.backward()
    return sig.grad


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(backend: str, batch, device, repeats: int) -> float:
    step(backend, batch)  # warm-up (and kernel build on first CUDA use)
    sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step(backend, batch)
        sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _load1():
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return ""


def available_backends(device) -> list:
    """The backends that run on ``device`` here: torch and twin always, cpu/cuda when their kernel loads."""
    if device.type == "cuda":
        return ["torch", "cuda"] if kc.kernel_available() else ["torch"]
    return ["torch", "twin"] + (["cpu"] if kc.cpu_kernel_available() else [])


def run_sweep(sizes, device, backends, samples: int = 64, repeats: int = 5, progress: bool = True) -> list:
    """One row per (size, backend): ms, rays/s, samples/s and the speed-up over ``torch`` at that size."""
    gen = torch.Generator().manual_seed(0)
    rows = []
    for n_rays in tqdm(sizes, desc="bench_render", disable=not progress):
        batch = make_batch(n_rays, samples, device, gen)
        ref = None
        for backend in backends:
            sec = measure(backend, batch, device, repeats)
            ref = sec if backend == "torch" else ref
            rows.append(
                {
                    "backend": backend,
                    "device": str(device),
                    "n_rays": n_rays,
                    "n_samples": int(batch[0].numel()),
                    "ms": round(sec * 1e3, 3),
                    "rays_per_s": round(n_rays / sec),
                    "samples_per_s": round(batch[0].numel() / sec),
                    "speedup_vs_torch": round(ref / sec, 2) if ref else "",
                    "threads": torch.get_num_threads(),
                    "load1": _load1(),
                }
            )
            if progress:
                print(f"{backend:>6} {n_rays:>7} rays: {sec * 1e3:9.2f} ms  {n_rays / sec:>12,.0f} rays/s fwd+bwd")
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--quick", action="store_true", default=None, help="small sweep (default: $TALKFACE_QUICK)")
    parser.add_argument("--samples", type=int, default=64, help="mean samples per ray")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--name", default="bench_render", help="artifact stem in figures/")
    args = parser.parse_args(argv)
    quick = repro.is_quick_default() if args.quick is None else args.quick
    run = repro.start_run("bench_render", quick=quick, device=args.device, seed=0, samples=args.samples)
    device = run.device
    sizes = [256, 1024, 4096, 16384] if quick else [1024, 4096, 16384, 65536, 262144]
    backends = available_backends(device)
    rows = run_sweep(sizes, device, backends, args.samples, args.repeats)
    viz.save_table(rows, args.name)
    fig, axes = viz.figure(width=5, height=3.5)
    ax = axes[0, 0]
    for backend in backends:
        pts = [(r["n_rays"], r["rays_per_s"]) for r in rows if r["backend"] == backend]
        colour = viz.COLOURS["ours"] if backend == "cpu" else viz.COLOURS.get(backend, viz.COLOURS["baseline"])
        ax.plot(*zip(*pts), marker="o", label=backend, color=colour)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("rays per batch")
    ax.set_ylabel("rays / s (forward + backward)")
    ax.set_title(f"packed compositing, ~{args.samples} samples/ray, {device}")
    ax.legend()
    viz.save(fig, args.name, close=True)
    run.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
