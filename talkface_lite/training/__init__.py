"""Training: one loop for every model (:mod:`.loop`) and what runs on it.

* :mod:`.loop` -- the loop (schedule, clipping, history, progress, clean stops); :mod:`.checkpoint`;
* :mod:`.static_nerf` -- fitting the static NeRF to posed images; :mod:`.memory` measures its activations;
* :mod:`.landmark_models` -- the landmark, blink and sync-expert trainers on the speaker's arrays;
* :mod:`.config`, :mod:`.talking_head` -- the talking-head field's two-stage training, run folders
  and rendering.

The talking-head names are imported lazily, so models can use :mod:`.loop` without importing the field.

Explained in notebooks/07_two_stage_training.ipynb.
"""

import importlib

_LAZY = {
    "SavedTensorMeter": ".memory",
    "TrainConfig": ".config",
    "RunError": ".talking_head",
    "TalkingHead": ".talking_head",
    "cached_run": ".talking_head",
    "fit_static_nerf": ".static_nerf",
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
