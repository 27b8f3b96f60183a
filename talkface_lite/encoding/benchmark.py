"""Hash-encoding throughput: forward + backward points/s of every backend, on the project's two grids.

The measuring code of ``benchmarks/bench_encoding.py`` (the command line that
writes ``figures/bench_encoding_<device>.*``), kept in the package so that the
notebook and ``benchmarks/gpu_check.py`` import it without touching ``sys.path``.

Backends: ``torch`` (the PyTorch reference, any device), ``cpu`` (our C++ CPU
kernel, on a CPU when it builds), ``cuda`` (our CUDA kernel, when a CUDA device
is present and the extension builds) and ``tcnn`` (tiny-cuda-nn, when it
imports). Grids (:data:`GRIDS`, configs from :func:`grid_config`): ``hash3d``
(``HashGridConfig.instant_ngp()``: 16 levels x 2 features, T = 2^19, 32
features) and ``triplane`` (``TriPlaneConfig.er_nerf()``: 3 planes x 12 levels
x 1 feature, T = 2^14, 36 features).

One step = encode N random points, multiply by a fixed random matrix, sum,
backward to the tables (what a NeRF step asks of the encoder). Times are
medians over repeats after a warm-up (skipped when one step already takes
more than a few seconds, as the PyTorch reference does on a CPU at 2^20).

Explained in notebooks/02_hash_encoding.ipynb.
"""

from __future__ import annotations

import math
import os
import statistics
import time
import warnings
from typing import Dict, List, Optional, Sequence, Union

import torch

from .hashgrid import HashGrid, HashGridConfig
from .triplane import TriPlane, TriPlaneConfig

GRIDS = ("hash3d", "triplane")
BACKENDS = ("torch", "cpu", "cuda", "tcnn")


def backend_status(backend: str, device: torch.device) -> Optional[str]:
    """``None`` when ``backend`` can run on ``device``, else the reason it cannot."""
    if backend == "torch":
        return None
    if backend == "cpu":
        if device.type != "cpu":
            return "needs CPU tensors"
        from ..kernels import build
        from ..kernels import hashgrid_cpu as khc

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", build.KernelFallbackWarning)
            ok = khc.load() is not None
        return None if ok else f"kernel unavailable: {build.status(khc.EXT_NAME).reason}"
    if device.type != "cuda":
        return "needs a CUDA device"
    if backend == "cuda":
        from ..kernels import build
        from ..kernels import hashgrid as khg

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", build.KernelFallbackWarning)
            ok = khg.load() is not None
        return None if ok else f"kernel unavailable: {build.status(khg.EXT_NAME).reason}"
    if backend == "tcnn":
        from . import tcnn_adapter

        _, reason = tcnn_adapter.import_tcnn()
        return None if reason is None else f"tinycudann does not import ({reason})"
    raise ValueError(f"unknown backend {backend!r}; use one of {BACKENDS}")


def grid_config(grid: str) -> Union[HashGridConfig, TriPlaneConfig]:
    """The config of a benchmarked grid: ``hash3d`` is Instant-NGP's 3D grid, ``triplane`` ER-NeRF's planes."""
    if grid == "hash3d":
        return HashGridConfig.instant_ngp()
    if grid == "triplane":
        return TriPlaneConfig.er_nerf()
    raise ValueError(f"unknown grid {grid!r}; use one of {GRIDS}")


def make_encoder(grid: str, backend: str, device: torch.device) -> torch.nn.Module:
    """The benchmarked encoder: ``hash3d`` or ``triplane`` (see :func:`grid_config`) on one backend."""
    config = grid_config(grid)
    cls = HashGrid if isinstance(config, HashGridConfig) else TriPlane
    return cls(config, backend=backend, device=device)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_step(
    enc: torch.nn.Module, n_points: int, device: torch.device, repeats: int = 5, slow_s: float = 3.0
) -> Dict[str, float]:
    """Median seconds of one forward and one forward+backward step on ``n_points`` random points."""
    g = torch.Generator(device="cpu").manual_seed(n_points)
    lo = -1.0 if isinstance(enc, TriPlane) else 0.0
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


def _load1():
    """1-minute load average ("" where the OS has none)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return ""


def _peak_mem_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    import resource  # POSIX only: imported here so that the module imports everywhere

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux: process peak RSS


def run_sweep(
    sizes: Sequence[int],
    device: torch.device,
    grids: Sequence[str] = GRIDS,
    backends: Sequence[str] = BACKENDS,
    repeats: int = 5,
    progress: bool = True,
) -> List[dict]:
    """Measure every (grid, backend, size); returns one row per measurement or unavailable backend.

    Rows: ``grid, backend, device, n_points, fwd_ms, fwd_bwd_ms, mpoints_per_s`` (forward+backward),
    ``speedup_vs_torch``, ``peak_mem_mib`` (CUDA: allocator peak for this row; CPU: process peak RSS
    so far), ``threads`` (torch intra-op threads), ``load1`` (1-minute load average after the row)
    and ``status`` (``ok`` or why the backend is missing).
    """
    from ..progress import tqdm

    rows = []
    usable = []
    for b in backends:
        reason = backend_status(b, device)
        if reason is None:
            usable.append(b)
        else:
            for grid in grids:
                rows.append(
                    dict(
                        grid=grid,
                        backend=b,
                        device=device.type,
                        n_points="",
                        fwd_ms="",
                        fwd_bwd_ms="",
                        mpoints_per_s="",
                        speedup_vs_torch="",
                        peak_mem_mib="",
                        threads="",
                        load1="",
                        status=reason,
                    )
                )
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
        rows.append(
            dict(
                grid=grid,
                backend=b,
                device=device.type,
                n_points=n,
                fwd_ms=round(1e3 * t["fwd"], 3),
                fwd_bwd_ms=round(1e3 * t["fwd_bwd"], 3),
                mpoints_per_s=round(rate / 1e6, 4),
                speedup_vs_torch=round(rate / ref, 2) if ref else "",
                peak_mem_mib=round(_peak_mem_mib(device), 1),
                threads=torch.get_num_threads(),
                load1=_load1(),
                status="ok",
            )
        )
        del enc
    return rows


def plot(rows: List[dict], title: str = ""):
    """Throughput vs number of points, one line per (grid, backend)."""
    from .. import viz

    fig, axes = viz.figure(1, 1, width=5.0, height=3.5)
    ax = axes[0, 0]
    styles = {"hash3d": "-o", "triplane": "--s"}
    for grid in GRIDS:
        for b in BACKENDS:
            pts = [
                (r["n_points"], r["mpoints_per_s"])
                for r in rows
                if r["grid"] == grid and r["backend"] == b and r["status"] == "ok"
            ]
            if pts:
                xs, ys = zip(*pts)
                colour = viz.COLOURS["ours"] if b == "cpu" else viz.COLOURS.get(b)  # both kernels are ours
                ax.plot(xs, ys, styles[grid], color=colour, label=f"{grid} / {b}", ms=4)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("points per step")
    ax.set_ylabel("forward+backward, Mpoints/s")
    ax.set_title(title or "hash encoding throughput")
    ax.legend(fontsize=8)
    return fig


__all__ = ["BACKENDS", "GRIDS", "backend_status", "grid_config", "make_encoder", "plot", "run_sweep", "time_step"]
