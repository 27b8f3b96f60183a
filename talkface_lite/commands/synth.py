"""``talkface-lite synth OUT --seconds S --size N --seed K``: write a synthetic speaker dataset.

See :mod:`talkface_lite.data.synthetic` for what is generated and
:mod:`talkface_lite.data.dataset` for the folder format.
"""

from __future__ import annotations

import time


def add_arguments(parser) -> None:
    parser.add_argument("out", help="output dataset folder (must not exist unless --overwrite)")
    parser.add_argument("--seconds", type=float, default=10.0, help="clip length in seconds (default 10)")
    parser.add_argument("--size", type=int, default=128, help="frame size in pixels, square (default 128)")
    parser.add_argument("--seed", type=int, default=0, help="speaker seed (default 0)")
    parser.add_argument(
        "--features", default="mel", help="comma-separated audio feature kinds: mel,mel_cmvn,mfcc,phones (default mel)"
    )
    parser.add_argument("--motion", type=float, default=1.0, help="head-motion scale, 0 = still (default 1)")
    parser.add_argument("--workers", type=int, default=1, help="render processes (frames are identical; default 1)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing dataset atomically")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args) -> int:
    from .. import audio
    from ..data import dataset, synthetic

    features = audio.parse_kinds(args.features)  # checked before rendering anything
    if args.workers < 1:
        raise ValueError(f"--workers must be at least 1 (render processes), got {args.workers}")
    t0 = time.time()
    synthetic.check_args(args.seconds, args.size, args.seed, args.motion)  # before any work
    dataset.check_output_folder(args.out, args.overwrite)
    est = synthetic.check_resources(args.seconds, args.size, out_dir=args.out, workers=args.workers)
    if est.seconds > 60:
        print(f"synth: {est.describe()} with {args.workers} worker(s)")
    rec = synthetic.generate_speaker(
        args.seconds, args.size, args.seed, motion=args.motion, workers=args.workers, progress=not args.quiet
    )
    t1 = time.time()
    path = dataset.write_dataset(rec, args.out, features=features, overwrite=args.overwrite, progress=not args.quiet)
    print(
        f"wrote {path}: {rec.n_frames} frames at {args.size}x{args.size}, {args.seconds:g} s, seed {args.seed} "
        f"(generate {t1 - t0:.1f} s, write {time.time() - t1:.1f} s)"
    )
    return 0
