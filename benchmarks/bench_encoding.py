"""Hash-encoding throughput: forward + backward points/s of every available backend.

Backends, side by side in one run: ``torch`` (the PyTorch reference, any
device), ``cpu`` (our C++ CPU kernel, on a CPU when it builds), ``cuda`` (our
CUDA kernel, when a CUDA device is present and the extension builds) and
``tcnn`` (tiny-cuda-nn, when it imports). Grids: ``hash3d`` (Instant-NGP's default,
16 levels x 2 features, T = 2^19, 32 features) and ``triplane`` (ER-NeRF's
default, 3 planes x 12 levels x 1 feature, T = 2^14, 36 features).

One step = encode N random points, multiply by a fixed random matrix, sum,
backward to the tables (what a NeRF step asks of the encoder). Times are
medians over repeats after a warm-up (skipped when one step already takes
more than a few seconds, as the PyTorch reference does on a CPU at 2^20).

Writes ``figures/bench_encoding_<device>.csv|.md`` (via ``viz.save_table``,
so they are recorded in ``figures/MANIFEST``) and a log-log plot
``figures/bench_encoding_<device>.png``; unavailable backends are listed
with the reason. Every row records the torch threads and the 1-minute load
average when it was measured: on shared cores the numbers measure the
contention too.

    python benchmarks/bench_encoding.py --device cpu --max-log2 18   # the README's table
    python benchmarks/bench_encoding.py --device cuda --max-log2 22
    python benchmarks/bench_encoding.py --quick                # seconds, small sizes

Explained in notebooks/02_hash_encoding.ipynb.
"""
from __future__ import annotations

import argparse
import math
import os
import resource
import statistics
import sys
import time
import warnings
from typing import Dict, List, Optional, Sequence

import torch

GRIDS = ("hash3d", "triplane")
BACKENDS = ("torch", "cpu", "cuda", "tcnn")


def backend_status(backend: str, device: torch.device) -> Optional[str]:
    """``None`` when ``backend`` can run on ``device``, else the reason it cannot."""
    if backend == "torch":
        return None
    if backend == "cpu":
        if device.type != "cpu":
            return "needs CPU tensors"
        from talkface_lite.kernels import build
        from talkface_lite.kernels import hashgrid_cpu as khc

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", build.KernelFallbackWarning)
            ok = khc.load() is not None
        return None if ok else f"kernel unavailable: {build.status(khc.EXT_NAME).reason}"
    if device.type != "cuda":
        return "needs a CUDA device"
    if backend == "cuda":
        from talkface_lite.kernels import build
        from talkface_lite.kernels import hashgrid as khg

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", build.KernelFallbackWarning)
            ok = khg.load() is not None
        return None if ok else f"kernel unavailable: {build.status(khg.EXT_NAME).reason}"
    if backend == "tcnn":
        from talkface_lite.encoding import tcnn_adapter

        _, reason = tcnn_adapter.import_tcnn()
        return None if reason is None else f"tinycudann does not import ({reason})"
    raise ValueError(f"unknown backend {backend!r}; use one of {BACKENDS}")


def make_encoder(grid: str, backend: str, device: torch.device) -> torch.nn.Module:
    """The benchmarked encoder: ``hash3d`` or ``triplane`` on one backend."""
    from talkface_lite.encoding.hashgrid import HashGrid
    from talkface_lite.encoding.triplane import TriPlane

    if grid == "hash3d":
        return HashGrid(3, backend=backend, device=device)
    if grid == "triplane":
        return TriPlane(backend=backend, device=device)
    raise ValueError(f"unknown grid {grid!r}; use one of {GRIDS}")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_step(enc: torch.nn.Module, n_points: int, device: torch.device, repeats: int = 5,
              slow_s: float = 3.0) -> Dict[str, float]:
    """Median seconds of one forward and one forward+backward step on ``n_points`` random points."""
    g = torch.Generator(device="cpu").manual_seed(n_points)
    lo = -1.0 if isinstance(enc, _triplane_cls()) else 0.0
    x = (torch.rand(n_points, 3, generator=g) * (1.0 - lo) + lo).to(device)
    n_out = enc.n_output_dims
    proj = torch.randn(n_out, 1, generator=g).to(device)

    def fwd():
        with torch.no_grad():
            enc(x)

    def fwd_bwd():
        enc.zero_grad(set_to_none=True)
        y = enc(x).float() @ proj
        y.sum().backward()

    out = {}
    for name, fn in (("fwd", fwd), ("fwd_bwd", fwd_bwd)):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        first = time.perf_counter() - t0
        times = [first] if first > slow_s else []
        while len(times) < (1 if first > slow_s else repeats):
            t0 = time.perf_counter()
            fn()
            _sync(device)
            times.append(time.perf_counter() - t0)
        out[name] = statistics.median(times)
    return out


def _triplane_cls():
    from talkface_lite.encoding.triplane import TriPlane

    return TriPlane


def _load1():
    """1-minute load average ("" where the OS has none)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return ""


def _peak_mem_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux: process peak RSS


def run_sweep(sizes: Sequence[int], device: torch.device, grids: Sequence[str] = GRIDS,
              backends: Sequence[str] = BACKENDS, repeats: int = 5, progress: bool = True) -> List[dict]:
    """Measure every (grid, backend, size); returns one row per measurement or unavailable backend.

    Rows: ``grid, backend, device, n_points, fwd_ms, fwd_bwd_ms, mpoints_per_s`` (forward+backward),
    ``speedup_vs_torch``, ``peak_mem_mib`` (CUDA: allocator peak for this row; CPU: process peak RSS
    so far), ``threads`` (torch intra-op threads), ``load1`` (1-minute load average after the row)
    and ``status`` (``ok`` or why the backend is missing).
    """
    from talkface_lite.progress import tqdm

    rows = []
    usable = []
    for b in backends:
        reason = backend_status(b, device)
        if reason is None:
            usable.append(b)
        else:
            for grid in grids:
                rows.append(dict(grid=grid, backend=b, device=device.type, n_points="", fwd_ms="", fwd_bwd_ms="",
                                 mpoints_per_s="", speedup_vs_torch="", peak_mem_mib="", threads="", load1="",
                                 status=reason))
    jobs = [(grid, b, n) for grid in grids for n in sizes for b in usable]  # backends back to back per size
    torch_rate = {}
    bar = tqdm(jobs, desc="bench_encoding", disable=not progress)
    for grid, b, n in bar:
        bar.set_postfix_str(f"{grid}/{b}/2^{int(math.log2(n))}")
        enc = make_encoder(grid, b, device)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        t = time_step(enc, n, device, repeats=repeats)
        rate = n / t["fwd_bwd"]
        if b == "torch":
            torch_rate[(grid, n)] = rate
        ref = torch_rate.get((grid, n))
        rows.append(dict(grid=grid, backend=b, device=device.type, n_points=n, fwd_ms=round(1e3 * t["fwd"], 3),
                         fwd_bwd_ms=round(1e3 * t["fwd_bwd"], 3), mpoints_per_s=round(rate / 1e6, 4),
                         speedup_vs_torch=round(rate / ref, 2) if ref else "",
                         peak_mem_mib=round(_peak_mem_mib(device), 1), threads=torch.get_num_threads(),
                         load1=_load1(), status="ok"))
        del enc
    return rows


def plot(rows: List[dict], title: str = ""):
    """Throughput vs number of points, one line per (grid, backend)."""
    from talkface_lite import viz

    fig, axes = viz.figure(1, 1, width=5.0, height=3.5)
    ax = axes[0, 0]
    styles = {"hash3d": "-o", "triplane": "--s"}
    for grid in GRIDS:
        for b in BACKENDS:
            pts = [(r["n_points"], r["mpoints_per_s"]) for r in rows
                   if r["grid"] == grid and r["backend"] == b and r["status"] == "ok"]
            if pts:
                xs, ys = zip(*pts)
                color = viz.COLORS["ours"] if b == "cpu" else viz.COLORS.get(b)  # both kernels are ours
                ax.plot(xs, ys, styles[grid], color=color, label=f"{grid} / {b}", ms=4)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("points per step")
    ax.set_ylabel("forward+backward, Mpoints/s")
    ax.set_title(title or "hash encoding throughput")
    ax.legend(fontsize=8)
    return fig


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda (default: auto)")
    parser.add_argument("--quick", action="store_true", help="small sizes (2^10..2^14), 3 repeats: seconds")
    parser.add_argument("--min-log2", type=int, default=None, help="smallest size, log2 (default 12; quick 10)")
    parser.add_argument("--max-log2", type=int, default=None,
                        help="largest size, log2 (default 20; quick 14); the CPU reference is chunked, 22 fits")
    parser.add_argument("--grids", default=",".join(GRIDS), help=f"comma list of {GRIDS}")
    parser.add_argument("--backends", default=",".join(BACKENDS), help=f"comma list of {BACKENDS}")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats per point (default 5; quick 3)")
    parser.add_argument("--name", default=None, help="artifact stem (default bench_encoding_<device>)")
    args = parser.parse_args(argv)

    from talkface_lite import repro, viz

    try:
        device = repro.choose_device(args.device)
    except ValueError as exc:
        print(f"bench_encoding: {exc}", file=sys.stderr)
        return 2
    lo = args.min_log2 if args.min_log2 is not None else (10 if args.quick else 12)
    hi = args.max_log2 if args.max_log2 is not None else (14 if args.quick else 20)
    if not 0 <= lo <= hi <= 24:
        print(f"bench_encoding: need 0 <= --min-log2 ({lo}) <= --max-log2 ({hi}) <= 24", file=sys.stderr)
        return 2
    grids = [g.strip() for g in args.grids.split(",") if g.strip()]
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    bad = [g for g in grids if g not in GRIDS] + [b for b in backends if b not in BACKENDS]
    if bad:
        print(f"bench_encoding: unknown grid/backend {bad}; grids {GRIDS}, backends {BACKENDS}", file=sys.stderr)
        return 2
    name = args.name or f"bench_encoding_{device.type}"
    run = repro.start_run(name, quick=args.quick, device=str(device), seed=0, sizes=[lo, hi], grids=grids,
                          backends=backends)
    rows = run_sweep([2 ** k for k in range(lo, hi + 1, 2 if hi - lo > 6 else 1)], device, grids, backends,
                     repeats=args.repeats or (3 if args.quick else 5))
    viz.save_table(rows, name)
    fig = plot(rows, f"hash encoding, {device.type} ({run.mode})")
    viz.save(fig, name, close=True)
    print(viz.markdown_table(rows, list(rows[0].keys())))
    run.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
