"""``talkface-lite render RUN AUDIO OUT.mp4 [--poses train|smooth|still] [--blinks generate|none|AU45.npy] [--transcript TEXT]``.

Drives a trained run with any audio and writes an H.264 mp4 with the audio
(see :mod:`talkface_lite.drive`); the same as ``talkface_lite.drive.drive(run, audio, out=...)``.
"""

from __future__ import annotations

import sys


def add_arguments(parser) -> None:
    parser.add_argument("run", help="run folder (talkface-lite train)")
    parser.add_argument("audio", help="audio or video file with speech (wav, mp3, mp4, ...; any rate)")
    parser.add_argument("out", help="output .mp4 (must not exist unless --overwrite)")
    parser.add_argument(
        "--poses",
        default="train",
        choices=("train", "smooth", "still"),
        help="head motion: replay the training poses (default), a smoothed path, or a still head",
    )
    parser.add_argument(
        "--blinks",
        default="generate",
        help="generate (the speaker's blink statistics, default), none, or an AU45 .npy (one per frame)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the blink generator (default 0)")
    parser.add_argument(
        "--transcript",
        default=None,
        help="the words said, for a run on phones features: their phones are aligned instead of recognised",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    parser.add_argument("--device", default="auto", help="auto (default), cpu or cuda")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    import time

    from ..drive import check_blinks, check_output, check_seed, drive
    from ..training import load_run

    t0 = time.time()
    check_output(args.out, args.overwrite)  # before loading anything
    check_seed(args.seed)
    blinks = check_blinks(args.blinks)  # loaded and checked once, before the run is loaded
    head = load_run(args.run, device=args.device)
    if head.unfinished():
        print(f"talkface-lite render: note: {head.unfinished()}", file=sys.stderr)
    res = drive(
        head,
        args.audio,
        poses=args.poses,
        blinks=blinks,
        seed=args.seed,
        out=args.out,
        overwrite=args.overwrite,
        progress=not args.quiet,
        transcript=args.transcript,
    )
    for note in res.notes:
        print(f"note: {note}")
    n = len(res.au45)
    print(
        f"wrote {res.out}: {n} frames ({n / head.dataset.fps:.1f} s) at {head.dataset.width}x{head.dataset.height}, "
        f"poses {args.poses}, blinks {args.blinks}, in {time.time() - t0:.1f} s"
    )
    return 0
