"""``talkface-lite evaluate RUN [RUN ...] [--name NAME] [--landmarks dlt|gt] [--no-fid]``.

Evaluates trained runs on the held-out tail of their datasets, driven by their own audio (see
:mod:`talkface_lite.evaluate`), and writes one table row per run to ``figures/<NAME>.{csv,md}``.
"""

from __future__ import annotations

import sys


def add_arguments(parser) -> None:
    parser.add_argument("runs", nargs="+", help="run folders (talkface-lite train)")
    parser.add_argument(
        "--name",
        default="evaluation",
        help="table stem in figures/ or $TALKFACE_FIGURES (default: evaluation; replaces a table of that name)",
    )
    parser.add_argument(
        "--landmarks",
        default="dlt",
        choices=("dlt", "gt"),
        help="landmarks driving the field: predicted from the audio (default) or ground truth",
    )
    parser.add_argument("--paper", choices=("I", "II", "III"), help="print this table of the paper beside ours")
    parser.add_argument("--no-fid", action="store_true", help="skip FID (about 0.1 s per image on a CPU)")
    parser.add_argument("--device", default="auto", help="auto (default), cpu or cuda")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args) -> int:
    from .. import evaluate as E
    from .. import repro, viz
    from ..training import load_run

    viz.check_name(args.name)
    rows = []
    heads = [load_run(r, device=args.device) for r in args.runs]  # every run checked before any work
    for r, head in zip(args.runs, heads):
        if head.unfinished():
            print(f"talkface-lite evaluate: note: {r}: {head.unfinished()}", file=sys.stderr)
    experts = {}
    for head in heads:
        key = (str(head.dataset.root), head.config.audio_kind)
        if key not in experts:
            experts[key] = E.sync_expert_for(head.dataset, head.config.audio_kind)
        rows.append(
            E.self_driven(
                head, landmarks=args.landmarks, fid=not args.no_fid, expert=experts[key], progress=not args.quiet
            )
        )
    print(E.write_table(rows, args.name, paper=args.paper))
    out = repro.output_dir()
    print(
        f"\nwrote {out / (args.name + '.csv')} and .md (set TALKFACE_FIGURES to write elsewhere; an earlier table of "
        "this name is replaced). Our numbers come from these runs and this data; the paper's, if shown, do not."
    )
    return 0
