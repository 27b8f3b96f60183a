"""Refuse non-finite values where they enter the package: one check, one message.

A single NaN or inf point reaching a hash grid corrupts every table row it touches in the backward pass,
and after one optimiser step valid queries return NaN too; a NaN in a feature array or a pose spreads the
same way. So arrays are checked where they come in (loaders, the dataset validator, the encoders) and
refused with how many values are bad and where the first one is.
"""

from __future__ import annotations

from typing import Tuple

import numpy as np


def count_non_finite(values) -> Tuple[int, tuple]:
    """``(n, first)``: how many entries of ``values`` (numpy array or torch tensor) are NaN or inf, and the
    index of the first one (``()`` when none). One device synchronisation for CUDA tensors."""
    if hasattr(values, "is_floating_point"):  # torch.Tensor
        import torch

        if not values.is_floating_point() and not values.is_complex():
            return 0, ()
        finite = torch.isfinite(values)
        if bool(finite.all()):
            return 0, ()
        bad = ~finite
        first = tuple(int(i) for i in bad.nonzero()[0])
        return int(bad.sum()), first
    arr = np.asarray(values)
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.complexfloating)):
        return 0, ()
    finite = np.isfinite(arr)
    if finite.all():
        return 0, ()
    first = tuple(int(i) for i in np.argwhere(~finite)[0])
    return int((~finite).sum()), first


def require_finite(values, what: str, hint: str) -> None:
    """Raise ``ValueError`` when ``values`` holds NaN or inf.

    Args:
        values: numpy array or torch tensor (integer arrays always pass).
        what: what the values are, for the message (``"HashGrid points"``, a file path, ...).
        hint: what to do about it.

    Raises:
        ValueError: ``"<what>: 3 of 4096 values are NaN or inf (first at index (17, 0)); <hint>"``.
    """
    n, first = count_non_finite(values)
    if n:
        total = values.numel() if hasattr(values, "numel") else np.asarray(values).size
        raise ValueError(f"{what}: {n} of {total} values are NaN or inf (first at index {first}); {hint}")


def require_room(what: str, memory_bytes: int, disk_bytes: int = 0, out_dir=None, fix: str = "") -> None:
    """Refuse, before any work, a job whose data cannot fit in 80 % of the available memory or on the disk.

    Args:
        what: the job, for the message (``"a 30 s clip at 512 px"``).
        memory_bytes, disk_bytes: the job's estimate.
        out_dir: where it writes (the first existing parent is measured); None skips the disk check.
        fix: what to change, for the message.

    Raises:
        ValueError: naming what is needed, what is available and ``fix``.
    """
    import shutil
    from pathlib import Path

    import psutil

    avail = psutil.virtual_memory().available
    if memory_bytes > 0.8 * avail:
        raise ValueError(
            f"{what} needs about {memory_bytes / 2**30:.1f} GiB of memory but "
            f"{avail / 2**30:.1f} GiB is available: {fix}"
        )
    if out_dir is not None and disk_bytes:
        parent = Path(out_dir).resolve()
        while not parent.exists():
            parent = parent.parent
        free = shutil.disk_usage(parent).free
        if disk_bytes > free:
            raise ValueError(
                f"{what} needs about {disk_bytes / 2**30:.2f} GiB on disk but {parent} has "
                f"{free / 2**30:.2f} GiB free: free some space, choose another folder, or {fix}"
            )


__all__ = ["count_non_finite", "require_finite", "require_room"]
