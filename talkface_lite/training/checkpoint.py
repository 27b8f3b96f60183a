"""Checkpoints that are written atomically, loaded safely and refuse what does not belong to the run.

* **Atomic**: the state goes to a hidden temp file beside the target
  (``.ckpt.pt.tmp-<pid>``), is flushed to disk, then renamed over the target,
  so an interrupted write leaves the previous checkpoint intact and a
  half-written file is never at the name the loader reads.
* **Safe**: loaded with ``torch.load(weights_only=True)`` (tensors, numbers,
  strings and containers only; no pickled code runs).
* **Checked**: every checkpoint carries ``kind``, ``variant`` and the package
  version; :func:`load_checkpoint` compares them with what the caller expects
  and says what differs.
* **Exact resume**: :func:`rng_state` / :func:`set_rng_state` capture the
  global torch (and CUDA), numpy and Python RNGs and a run's own
  ``torch.Generator``.

Explained in notebooks/07_two_stage_training.ipynb.
"""

from __future__ import annotations

import os
import pickle
import random
from pathlib import Path
from typing import Optional, Union

import numpy as np
import torch

FORMAT = 1


class CheckpointError(ValueError):
    """A checkpoint is missing, damaged or from another model/version (the message says which)."""


def save_checkpoint(path: Union[str, os.PathLike], state: dict) -> Path:
    """Write ``state`` to ``path`` atomically (temp file + fsync + rename); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            torch.save({"format": FORMAT, **state}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def load_checkpoint(
    path: Union[str, os.PathLike],
    kind: Optional[str] = None,
    variant: Optional[str] = None,
    version: Optional[str] = None,
    map_location="cpu",
) -> dict:
    """Load a checkpoint written by :func:`save_checkpoint` and check where it comes from.

    Args:
        path: the file.
        kind, variant, version: expected values of the stored fields (None: not checked).
        map_location: as in ``torch.load``.

    Returns:
        The state dict.

    Raises:
        CheckpointError: missing or unreadable file (e.g. truncated), or a field that differs.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}: train first, or point at the run folder that has one")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, OSError, ValueError) as exc:
        raise CheckpointError(
            f"checkpoint {path} cannot be read ({type(exc).__name__}: {str(exc)[:120]}); "
            "it is damaged or not a talkface_lite checkpoint: delete it and resume from "
            "an earlier one or retrain"
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a talkface_lite checkpoint of format {FORMAT}")
    for field, want in (("kind", kind), ("variant", variant), ("version", version)):
        if want is not None and state.get(field) != want:
            raise CheckpointError(
                f"checkpoint {path} has {field}={state.get(field)!r} but this run needs "
                f"{field}={want!r}: use a run folder made with the same {field}, or start "
                "a new run (--overwrite)"
            )
    return state


def rng_state(generator: Optional[torch.Generator] = None) -> dict:
    """Every RNG a training run draws from, as tensors and plain values (``weights_only``-loadable)."""
    state = {"torch": torch.get_rng_state(), "numpy": _numpy_state(), "python": _python_state()}
    if generator is not None:
        state["generator"] = generator.get_state()
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict, generator: Optional[torch.Generator] = None) -> None:
    """Restore what :func:`rng_state` captured."""
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), int(pos), int(has_gauss), float(cached)))
    version, internal, gauss = state["python"]
    random.setstate((int(version), tuple(int(v) for v in internal), gauss))
    if generator is not None and "generator" in state:
        generator.set_state(state["generator"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _numpy_state():
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)]


def _python_state():
    version, internal, gauss = random.getstate()
    return [version, list(internal), gauss]


__all__ = ["CheckpointError", "load_checkpoint", "rng_state", "save_checkpoint", "set_rng_state"]
