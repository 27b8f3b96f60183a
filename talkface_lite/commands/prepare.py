"""``talkface-lite prepare VIDEO OUT``: turn a talking-head video into a dataset (see :mod:`talkface_lite.data.video.prepare`)."""

from __future__ import annotations

import sys


def add_arguments(parser) -> None:
    parser.add_argument("video", help="talking-head clip (mp4, mov, mkv, ...), ideally 1-5 minutes")
    parser.add_argument("out", help="dataset folder to create")
    parser.add_argument(
        "--openface-csv", metavar="CSV", help="OpenFace FeatureExtraction CSV: use its AU45_r for blinks"
    )
    parser.add_argument(
        "--au45-source",
        choices=("auto", "ear", "mediapipe", "openface"),
        default="auto",
        help="where AU45 (blinks) comes from: auto = the OpenFace CSV if given, else MediaPipe's eyelids "
        "(the blink extra) when installed, else dlib's eye aspect ratio (default auto)",
    )
    parser.add_argument(
        "--features", default="mel", help="audio feature kinds, comma separated: mel,mel_cmvn,mfcc,phones (default mel)"
    )
    parser.add_argument(
        "--import-features",
        metavar="KIND=NPY",
        action="append",
        default=[],
        help="also store pre-extracted features, e.g. deepspeech=aud_ds.npy or hubert=aud_hu.npy "
        "(repeatable; (T,16,29), (T,1024) and (T,2,1024) layouts)",
    )
    parser.add_argument("--audio", metavar="WAV", help="take the speech from this file instead of the video's audio")
    parser.add_argument("--overwrite", action="store_true", help="replace a dataset already in OUT (atomically)")
    parser.add_argument("--max-size", type=int, default=512, help="downscale so the longer side is at most this (px)")
    parser.add_argument("--focal", type=float, default=None, help="focal length in pixels (default: the longer side)")
    parser.add_argument("--workers", type=int, default=2, help="processes for landmark detection (default 2)")
    parser.add_argument("--val-fraction", type=float, default=0.1, help="tail of the clip held out (default 0.1)")
    parser.add_argument("--quiet", "--no-progress", dest="quiet", action="store_true", help="no progress bars")


def run(args) -> int:
    from .. import audio
    from ..data.video.prepare import prepare_video

    # an empty --features is allowed only when every kind is imported
    # an empty --features is prepare_video's to judge (fine with --import-features); kinds are checked after the video
    features = () if not args.features.strip() else audio.parse_kinds(args.features, check=False)
    imports = {}
    for item in args.import_features:
        kind, sep, npy = item.partition("=")
        if not sep or not kind.strip() or not npy.strip():
            print(
                f"talkface-lite prepare: --import-features wants KIND=PATH (e.g. deepspeech=aud_ds.npy), got {item!r}",
                file=sys.stderr,
            )
            return 2
        if kind.strip() in imports:
            print(
                f"talkface-lite prepare: --import-features gives {kind.strip()!r} twice ({imports[kind.strip()]} and "
                f"{npy.strip()}): give each kind once, or import the second under another name",
                file=sys.stderr,
            )
            return 2
        imports[kind.strip()] = npy.strip()
    try:
        report = prepare_video(
            args.video,
            args.out,
            openface_csv=args.openface_csv,
            features=features,
            overwrite=args.overwrite,
            audio_path=args.audio,
            max_size=args.max_size,
            focal=args.focal,
            workers=args.workers,
            val_fraction=args.val_fraction,
            import_features=imports,
            progress=not args.quiet,
            au45_source=args.au45_source,
        )
    except ImportError as exc:  # an optional extra (dlib, ...) is missing here: the message names the install
        print(f"talkface-lite prepare: {exc}", file=sys.stderr)
        return 1
    print(report.summary())
    return 0
