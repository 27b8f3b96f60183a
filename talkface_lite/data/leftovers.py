"""Temporary folders a killed run left beside its output, found and cleaned by the next run.

``prepare`` decodes frames into ``.talkface-decode-<pid>-*`` (gigabytes for a
long clip) and :func:`~talkface_lite.data.dataset.write_dataset` builds a
dataset in ``.<name>.tmp-<pid>`` before renaming it into place, moving a
dataset it replaces to ``.<name>.old-<pid>`` for a moment. A run killed by the
user, the out-of-memory killer or a closed terminal cannot remove them. The
next run in the same folder calls :func:`clean_leftovers`: folders whose
process is gone are removed, and a ``.old`` folder whose replacement never
arrived is renamed back (the user's dataset is never lost). Folders of a
process that is still running are named, not touched.

Explained in README.md ("Preparing your own video").
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import List, Optional, Union

DECODE_PREFIX = ".talkface-decode-"


class LeftoverWarning(UserWarning):
    """Something a killed run left was removed or restored (the message says what)."""


def decode_prefix() -> str:
    """Prefix of this process's frame-store folders: ``.talkface-decode-<pid>-``."""
    return f"{DECODE_PREFIX}{os.getpid()}-"


def pid_alive(pid: int) -> bool:
    """True when a process ``pid`` exists on this machine (a process of another user counts)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner(path: Path, name: Optional[str]) -> Optional[int]:
    if path.name.startswith(DECODE_PREFIX):
        m = re.match(re.escape(DECODE_PREFIX) + r"(\d+)-", path.name)
    elif name is not None:
        m = re.fullmatch(r"\." + re.escape(name) + r"\.(?:tmp|old)-(\d+)", path.name)
    else:
        m = None
    return int(m.group(1)) if m else None


def _size(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += (Path(root) / f).stat().st_size
            except OSError:
                pass
    return total


def clean_leftovers(folder: Union[str, os.PathLike], name: Optional[str] = None) -> List[str]:
    """Remove what killed runs left in ``folder``; return one sentence per thing done or seen.

    Args:
        folder: where the output goes (the parent of the dataset folder).
        name: the dataset folder's name, whose ``.<name>.tmp-<pid>`` / ``.<name>.old-<pid>`` are checked too
            (frame stores ``.talkface-decode-<pid>-*`` are checked always).

    Returns:
        notes such as ``"removed .talkface-decode-4242-ab12 (3.5 GB) left by a run that was killed (pid 4242)"``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    notes = []
    for path in sorted(folder.iterdir()):
        pid = _owner(path, name) if path.is_dir() else None
        if pid is None:
            continue
        if pid_alive(pid):
            if pid != os.getpid():
                notes.append(f"{path.name} belongs to a run still going (pid {pid}); left alone")
            continue
        if name is not None and path.name == f".{name}.old-{pid}" and not (folder / name).exists():
            os.replace(path, folder / name)  # killed between the two renames of a replacement
            notes.append(f"restored the dataset {name} from {path.name}: a run replacing it was killed (pid {pid})")
            continue
        size = _size(path)
        shutil.rmtree(path, ignore_errors=True)
        notes.append(f"removed {path.name} ({size / 1e9:.2f} GB) left by a run that was killed (pid {pid})")
    return notes


__all__ = ["DECODE_PREFIX", "LeftoverWarning", "clean_leftovers", "decode_prefix", "pid_alive"]
