"""Activation memory of a training step, measured the same way on CPU and GPU.

Explained in notebooks/03_triplane_nerf.ipynb.
"""

from __future__ import annotations

import torch


class SavedTensorMeter:
    """Counts the bytes autograd saves for backward inside a ``with`` block (unique storages).

    This is the activation memory a training step holds at its peak, measured the
    same way on CPU and GPU (on a GPU, ``torch.cuda.max_memory_allocated`` is reported too).
    """

    def __init__(self):
        self.bytes = 0
        self._seen = set()

    def _pack(self, t):
        try:
            key = (t.untyped_storage().data_ptr(), t.device)
            if key not in self._seen:
                self._seen.add(key)
                self.bytes += t.untyped_storage().nbytes()
        except (RuntimeError, NotImplementedError):  # tensors without storage (e.g. meta): not counted
            pass
        return t

    def __enter__(self):
        self._ctx = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t)
        self._ctx.__enter__()
        return self

    def __exit__(self, *exc):
        self._ctx.__exit__(*exc)
        return False


__all__ = ["SavedTensorMeter"]
