"""Speed and fidelity of the synthetic speaker: generation time, audio-mouth link, blinks, dlib agreement.

Targets (issue 4): a 20 s clip at 128x128 in under a minute
and a 60 s clip at 256x256 in under five minutes on 2 CPU cores; dlib's HOG
detector (one upsample) finds the face in at least 90 % of 256x256 frames,
frontal and at +-15 degrees of yaw, and its 68 landmarks lie close to the
ground-truth projections.

Measured here:

* wall time of :func:`~talkface_lite.data.synthetic.generate_speaker` (script
  + rendering) and of writing the dataset, per clip, with frames per second;
* Pearson r between inner-lip opening and audio loudness (20 s clip);
* blink rate and durations measured from the generated AU45 trace;
* dlib detection rate and mean landmark distance (pixels, per region) on the
  256x256 clip (every ``--dlib-stride``-th frame), and on still renders at
  -15, 0 and +15 degrees of yaw for several identities.

Writes ``figures/bench_synth.{csv,md}`` (timings), ``figures/bench_synth_checks.{csv,md}``
(fidelity) and ``figures/bench_synth.png``
through :mod:`talkface_lite.viz`. Timings depend on the machine and its load:
the table records the CPU count; the reference numbers in the notebook were
taken on 2 cores shared with other jobs.

    python benchmarks/bench_synth.py [--quick | --full] [--workers 1]

Explained in notebooks/00_setup_and_tour.ipynb.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

import numpy as np

from talkface_lite import repro, viz
from talkface_lite.data import synthetic as S
from talkface_lite.data.synthetic import checks as C
from talkface_lite.data.synthetic import head_render as hr
from talkface_lite.data.synthetic.head_model import FaceState
from talkface_lite.eye_state import BlinkStatistics


def time_clip(seconds: float, size: int, seed: int, workers: int, write: bool = True):
    t0 = time.perf_counter()
    rec = S.generate_speaker(seconds, size, seed, workers=workers, progress=True)
    t_gen = time.perf_counter() - t0
    t_write = float("nan")
    if write:
        from talkface_lite.data.dataset import write_dataset

        tmp = tempfile.mkdtemp(prefix="bench_synth_")
        try:
            t1 = time.perf_counter()
            write_dataset(rec, os.path.join(tmp, "ds"), progress=False)
            t_write = time.perf_counter() - t1
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return rec, t_gen, t_write


def yaw_sweep(seeds, size: int = 256, yaws_deg=(-15, 0, 15)):
    """dlib on still renders of several identities at fixed yaws: {yaw: (rate, mean px)}."""
    out = {}
    for yaw in yaws_deg:
        frames, gts = [], []
        for seed in seeds:
            model, look, k = S.build_speaker_model(size, seed)
            for jaw in (0.0, 0.6):
                st = FaceState(jaw=jaw)
                c2w = hr.camera_pose(yaw=np.deg2rad(yaw))
                with S.single_threaded_torch():
                    frames.append(hr.render_frame(model, st, c2w, k, size, look))
                gts.append(hr.project_points(model.landmarks(st), c2w, k))
        res = C.dlib_agreement(np.stack(frames), np.stack(gts))
        out[yaw] = (res["detection_rate"], res["mean_px"])
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="accepted for `make bench`; generation runs on the CPU")
    parser.add_argument(
        "--quick",
        action="store_true",
        default=None,
        help="10 s @ 128 and 20 s @ 256 (default: $TALKFACE_QUICK, which is on unless set to 0)",
    )
    parser.add_argument("--full", action="store_false", dest="quick", help="the targets' clips: 20 s @ 128, 60 s @ 256")
    parser.add_argument("--workers", type=int, default=1, help="render processes")
    parser.add_argument("--dlib-stride", type=int, default=5, help="run dlib on every n-th frame of the 256 clip")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    quick = repro.is_quick_default() if args.quick is None else args.quick
    clips = [(10.0, 128), (20.0, 256)] if quick else [(20.0, 128), (60.0, 256)]
    run = repro.start_run("bench_synth", quick=quick, device="cpu", seed=args.seed, clips=clips, workers=args.workers)
    rows, recs = [], {}
    for seconds, size in clips:
        rec, t_gen, t_write = time_clip(seconds, size, args.seed, args.workers)
        recs[size] = rec
        target = {128: 60.0 * seconds / 20.0, 256: 300.0 * seconds / 60.0}.get(size)
        rows.append(
            {
                "clip": f"{seconds:g} s @ {size}x{size}",
                "frames": rec.n_frames,
                "generate_s": round(t_gen, 1),
                "frames_per_s": round(rec.n_frames / t_gen, 1),
                "write_s": round(t_write, 1),
                "target_s": round(target, 0) if target else "",
                "meets_target": bool(target and t_gen <= target),
                "cpus": os.cpu_count(),
                "workers": args.workers,
            }
        )
        print(rows[-1], flush=True)
    small = recs[clips[0][1]]
    r = C.mouth_audio_correlation(small.landmarks, small.audio)
    blink = BlinkStatistics.from_au45(np.concatenate([recs[s].au45 for s in recs]), fps=25.0)
    big = recs[256]
    stride = max(1, args.dlib_stride)
    dl = C.dlib_agreement(big.frames[::stride], big.landmarks2d[::stride]) if C.dlib_available() else None
    sweep = yaw_sweep(range(4)) if C.dlib_available() else {}
    checks = [
        {"check": "mouth-audio Pearson r (lip opening vs RMS)", "value": round(r, 3), "target": "> 0.4"},
        {"check": "blinks measured from AU45", "value": len(blink.durations_s), "target": ""},
        {"check": "blink rate (per min)", "value": round(blink.rate_per_min, 1), "target": "10-25"},
        {
            "check": "blink duration min (ms)",
            "value": round(float(blink.durations_s.min()) * 1000, 0),
            "target": ">= 100",
        },
        {
            "check": "blink duration max (ms)",
            "value": round(float(blink.durations_s.max()) * 1000, 0),
            "target": "<= 400",
        },
    ]
    if dl is not None:
        checks += [
            {
                "check": f"dlib detection rate, clip @256 (every {stride}th frame)",
                "value": round(dl["detection_rate"], 3),
                "target": ">= 0.9",
            },
            {"check": "dlib mean landmark distance (px @256)", "value": round(dl["mean_px"], 2), "target": ""},
        ]
        checks += [
            {"check": f"dlib {k} distance (px @256)", "value": round(v, 2), "target": ""}
            for k, v in dl["region_px"].items()
        ]
        for yaw, (rate, px) in sweep.items():
            checks += [
                {
                    "check": f"dlib detection rate, yaw {yaw:+d} deg (4 identities x 2 mouths)",
                    "value": round(rate, 3),
                    "target": ">= 0.9",
                },
                {"check": f"dlib mean distance, yaw {yaw:+d} deg (px @256)", "value": round(px, 2), "target": ""},
            ]
    else:
        checks.append({"check": "dlib", "value": "not installed (pip install talkface_lite[video])", "target": ""})
    viz.save_table(checks, "bench_synth_checks")
    viz.save_table(rows, "bench_synth")
    fig, axes = viz.figure(1, 3, width=4.2, height=3.2)
    ax = axes[0, 0]
    ax.bar(
        [row["clip"] for row in rows], [row["generate_s"] for row in rows], color=viz.COLOURS["ours"], label="measured"
    )
    ax.scatter(
        [row["clip"] for row in rows],
        [row["target_s"] for row in rows],
        color=viz.COLOURS["gt"],
        marker="_",
        s=600,
        label="target",
        zorder=3,
    )
    ax.set_ylabel("generation time (s)")
    ax.set_title(f"{os.cpu_count()} CPUs, workers={args.workers}")
    ax.legend()
    ax = axes[0, 1]
    t = np.arange(small.n_frames) / 25.0
    from talkface_lite import landmarks as L

    opening = L.mouth_opening(small.landmarks)
    loud = C.frame_loudness(small.audio, small.n_frames)
    ax.plot(t, opening / opening.max(), color=viz.COLOURS["ours"], label="lip opening")
    ax.plot(t, loud / loud.max(), color=viz.COLOURS["gt"], alpha=0.6, label="audio RMS")
    ax.set_xlim(0, min(8, t[-1]))
    ax.set_xlabel("time (s)")
    ax.set_title(f"audio predicts the mouth: r = {r:.2f}")
    ax.legend()
    ax = axes[0, 2]
    if dl is not None:
        ax.hist(dl["per_frame_px"], bins=20, color=viz.COLOURS["torch"])
        ax.set_xlabel("dlib vs ground truth, mean px per frame")
        ax.set_title(f"dlib @256: found {dl['detection_rate']:.0%}, {dl['mean_px']:.2f} px")
    else:
        ax.text(0.5, 0.5, "dlib not installed\n(pip install talkface_lite[video])", ha="center", transform=ax.transAxes)
    fig.tight_layout()
    viz.save(fig, "bench_synth", close=True)
    run.finish()
    print(viz.markdown_table(rows, list(rows[0].keys())))
    print(viz.markdown_table(checks, ["check", "value", "target"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
