"""The ``talkface-lite`` command line.

Each subcommand lives in its own module under ``talkface_lite/commands/``
exposing ``add_arguments(parser)`` and ``run(args) -> int``.
Register a new one by adding a line to :data:`COMMANDS`; modules are imported
only when their command runs, so ``talkface-lite doctor`` works even where an
optional dependency of another command is missing.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings
from typing import Optional, Sequence

#: subcommand -> (module path, one-line help), in the order ``--help`` lists them
COMMANDS = {
    "doctor": ("talkface_lite.commands.doctor", "check this environment (exit 1 only if QUICK mode cannot run)"),
    "prepare": (
        "talkface_lite.commands.prepare",
        "turn a talking-head video into a dataset folder (landmarks, pose, audio)",
    ),
    "synth": ("talkface_lite.commands.synth", "generate a synthetic talking speaker dataset (seeded, any resolution)"),
    "train": ("talkface_lite.commands.train", "train the talking-head field on a dataset (two stages, resumable)"),
    "render": ("talkface_lite.commands.render", "drive a trained run with any audio -> mp4 with sound"),
    "evaluate": ("talkface_lite.commands.evaluate", "evaluate trained runs on held-out frames -> table in figures/"),
    "reproduce": ("talkface_lite.commands.reproduce", "execute the notebook series with papermill -> build/, figures/"),
}


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error: what is wrong and where the usage is (exit 2)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _Parser(prog="talkface-lite", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"talkface_lite {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_line) in COMMANDS.items():
        sub.add_parser(name, help=help_line, add_help=False)
    return parser


def _one_line(err: BaseException) -> str:
    if isinstance(err, OSError) and err.strerror and err.filename:
        return f"{err.strerror}: {err.filename}"
    return " ".join(str(err).split()) or type(err).__name__


def _notes_as_lines(command: str) -> None:
    """Show the package's own warnings (what an input adjustment did, a kernel fallback) as one line each."""
    default = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if category.__module__.startswith("talkface_lite"):
            print(f"talkface-lite {command}: note: {' '.join(str(message).split())}", file=sys.stderr)
        else:
            default(message, category, filename, lineno, file, line)

    warnings.showwarning = show


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run one subcommand. Every user error ends in one line on stderr, never a traceback.

    Exit status: 0 done; 2 the input was refused (bad arguments, a missing or unusable file, an existing
    output: every ``ValueError`` the package raises says what is wrong and what to do); 1 the work failed
    (the operating system refused a write, a full disk, training diverged); 130 interrupted. Set
    ``TALKFACE_DEBUG=1`` to get the traceback instead.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or argv[0] not in COMMANDS:
        parser.parse_args(argv)  # prints help/version, or a clear "invalid choice" and exits 2
        parser.print_help()
        return 2
    name = argv[0]
    module_path, help_line = COMMANDS[name]
    module = importlib.import_module(module_path)
    cmd_parser = _Parser(prog=f"talkface-lite {name}", description=help_line)
    module.add_arguments(cmd_parser)
    args = cmd_parser.parse_args(argv[1:])
    _notes_as_lines(name)
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        print(f"talkface-lite {name}: interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError) as err:
        if os.environ.get("TALKFACE_DEBUG"):
            raise
        print(f"talkface-lite {name}: {_one_line(err)}", file=sys.stderr)
        return 2
    except (OSError, FloatingPointError, MemoryError) as err:
        if os.environ.get("TALKFACE_DEBUG"):
            raise
        print(f"talkface-lite {name}: failed: {_one_line(err)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
