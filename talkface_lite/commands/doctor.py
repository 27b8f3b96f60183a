"""``talkface-lite doctor``: check an environment for the notebooks (see :mod:`talkface_lite.doctor`)."""

from __future__ import annotations


def add_arguments(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print the checks as JSON")


def run(args) -> int:
    from .. import doctor

    results = doctor.run_checks()
    print(doctor.report(results, as_json=args.json))
    return doctor.exit_code(results)
