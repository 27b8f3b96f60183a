"""Training: one loop for every model (:mod:`.loop`), checkpoints (:mod:`.checkpoint`), and the
talking-head field's two-stage training, run folders and rendering (:mod:`.config`, :mod:`.talking_head`).

The talking-head names are imported lazily, so models can use :mod:`.loop` without importing the field.

Explained in notebooks/07_two_stage_training.ipynb.
"""

import importlib

_LAZY = {
    "TrainConfig": ".config",
    "RunError": ".talking_head",
    "TalkingHead": ".talking_head",
    "cached_run": ".talking_head",
    "load_run": ".talking_head",
    "read_metrics": ".talking_head",
    "render_frames": ".talking_head",
    "train": ".talking_head",
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_LAZY)
