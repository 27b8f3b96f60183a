"""``talkface-lite train DATASET RUN_DIR [--quick/--full] [--stage coarse|fine|all] [--variant V] [--resume]``.

Trains the dynamic landmark radiance field on a dataset folder (see
:mod:`talkface_lite.training.talking_head`); the same as
``talkface_lite.training.train(dataset, run_dir, config, ...)``.
"""

from __future__ import annotations

import sys


def add_arguments(parser) -> None:
    from ..models.field import PAPER_NAMES

    parser.add_argument("dataset", help="dataset folder (talkface-lite synth / prepare)")
    parser.add_argument("run_dir", help="run folder to create (or continue with --resume)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", dest="full", action="store_false", help="CPU-sized preset (default)")
    mode.add_argument("--full", dest="full", action="store_true", help="paper-scale preset for one GPU")
    parser.set_defaults(full=None)  # None: not given (QUICK for a new run; a resumed run keeps its own)
    parser.add_argument(
        "--stage",
        default="all",
        choices=("coarse", "fine", "all"),
        help="coarse only, fine only (continues a coarse run, with --resume), or all (default)",
    )
    parser.add_argument(
        "--variant",
        default=None,
        choices=sorted(PAPER_NAMES),
        help="field variant, default dlt_eye (Table III rows: "
        + ", ".join(f"{k} = {v}" for k, v in PAPER_NAMES.items())
        + ")",
    )
    parser.add_argument(
        "--landmarks",
        default=None,
        choices=("gt", "dlt"),
        help="landmarks fed to the field: ground truth (default) or the DLT's predictions",
    )
    parser.add_argument(
        "--audio-kind",
        default=None,
        help="audio feature kind stored in the dataset: mel, mel_cmvn, mfcc, phones, or an imported "
        "deepspeech/hubert (default mel)",
    )
    parser.add_argument("--coarse-steps", type=int, help="override the preset's coarse steps")
    parser.add_argument("--fine-steps", type=int, help="override the preset's fine steps")
    parser.add_argument("--dlt-steps", type=int, help="override the preset's landmark-transformer steps")
    parser.add_argument("--seed", type=int, default=None, help="seed (default 0)")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in RUN_DIR from its checkpoint, with the settings it was made with",
    )
    parser.add_argument("--overwrite", action="store_true", help="delete an existing RUN_DIR first")
    parser.add_argument("--device", default="auto", help="auto (default), cpu or cuda")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args) -> int:
    import dataclasses
    from pathlib import Path

    from ..training import RunError, TrainConfig, train
    from ..training.talking_head import saved_config

    overrides = {
        k: v
        for k, v in (
            ("coarse_steps", args.coarse_steps),
            ("fine_steps", args.fine_steps),
            ("dlt_steps", args.dlt_steps),
        )
        if v is not None
    }
    given = {"variant": args.variant, "landmarks": args.landmarks, "audio_kind": args.audio_kind, "seed": args.seed}
    if args.resume and (Path(args.run_dir) / "config.json").is_file():
        saved = saved_config(args.run_dir)  # a resumed run keeps its own settings; only step counts may grow
        have = {
            "variant": saved.field.variant,
            "landmarks": saved.landmarks,
            "audio_kind": saved.audio_kind,
            "seed": saved.seed,
        }
        changed = [
            f"--{k.replace('_', '-')} {v} (the run has {have[k]})"
            for k, v in given.items()
            if v is not None and v != have[k]
        ]
        if changed:
            raise RunError(
                f"{args.run_dir} was made with other settings: {', '.join(changed)}; a resumed run "
                "keeps its settings (only --coarse-steps/--fine-steps can extend it): start a new run"
            )
        if args.full is not None:
            print(
                f"talkface-lite train: note: --{'full' if args.full else 'quick'} chooses the preset of a new run; "
                f"{args.run_dir} keeps its own",
                file=sys.stderr,
            )
        config = dataclasses.replace(saved, **overrides)
    else:
        preset = TrainConfig.full if args.full else TrainConfig.quick
        config = preset(
            field={"variant": args.variant or "dlt_eye"},
            landmarks=args.landmarks or "gt",
            audio_kind=args.audio_kind or "mel",
            seed=0 if args.seed is None else args.seed,
            **overrides,
        )
    head = train(
        args.dataset,
        args.run_dir,
        config,
        stage=args.stage,
        resume=args.resume,
        overwrite=args.overwrite,
        device=args.device,
        progress=not args.quiet,
    )
    end = head.config.coarse_steps if args.stage == "coarse" else head.config.total_steps
    state = (
        f"{args.stage} done at step {head.step}"
        if head.step >= end
        else f"stopped at step {head.step} of {end} (continue with --resume)"
    )
    print(f"{args.run_dir}: {head.config.field.variant}, {state}")
    return 0 if head.step >= end else 130
