"""Hash-encoding throughput: forward + backward points/s of every available backend.

Backends, side by side in one run: ``torch`` (the PyTorch reference, any
device), ``cpu`` (our C++ CPU kernel, on a CPU when it builds), ``cuda`` (our
CUDA kernel, when a CUDA device is present and the extension builds) and
``tcnn`` (tiny-cuda-nn, when it imports). Grids: ``hash3d`` (``HashGridConfig.instant_ngp()``,
16 levels x 2 features, T = 2^19, 32 features) and ``triplane`` (``TriPlaneConfig.er_nerf()``,
3 planes x 12 levels x 1 feature, T = 2^14, 36 features). The measuring code is
:mod:`talkface_lite.encoding.benchmark`; this script is its command line.

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
import sys
from typing import Optional, Sequence

# the measuring code lives in the package (the notebook imports it too); re-exported for gpu_check.py
from talkface_lite.encoding.benchmark import (  # noqa: F401
    BACKENDS,
    GRIDS,
    backend_status,
    grid_config,
    make_encoder,
    plot,
    run_sweep,
    time_step,
)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda (default: auto)")
    parser.add_argument("--quick", action="store_true", help="small sizes (2^10..2^14), 3 repeats: seconds")
    parser.add_argument("--min-log2", type=int, default=None, help="smallest size, log2 (default 12; quick 10)")
    parser.add_argument(
        "--max-log2",
        type=int,
        default=None,
        help="largest size, log2 (default 20; quick 14); the CPU reference is chunked, 22 fits",
    )
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
    run = repro.start_run(
        name, quick=args.quick, device=str(device), seed=0, sizes=[lo, hi], grids=grids, backends=backends
    )
    run.record(grids={g: grid_config(g).describe() for g in grids})
    rows = run_sweep(
        [2**k for k in range(lo, hi + 1, 2 if hi - lo > 6 else 1)],
        device,
        grids,
        backends,
        repeats=args.repeats or (3 if args.quick else 5),
    )
    viz.save_table(rows, name)
    fig = plot(rows, f"hash encoding, {device.type} ({run.mode})")
    viz.save(fig, name, close=True)
    print(viz.markdown_table(rows, list(rows[0].keys())))
    run.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
