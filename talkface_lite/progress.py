"""Progress bars that read well both live and in a saved notebook.

In a live frontend (JupyterLab, VS Code, a classic notebook) :func:`tqdm` is
``tqdm.auto``'s widget bar. In a headless run (papermill, nbval, ``make
reproduce``, a script; see :func:`talkface_lite.widgets.headless`) a widget
bar would be saved as a widget the file cannot restore: the committed
notebook would show ``0%| | 0/300`` or, once trusted, a blank gap. There the
bar is tqdm's text bar on stderr, refreshed at most every
:data:`HEADLESS_MININTERVAL` seconds, so the saved output ends with the
finished state (``100%| 300/300 [00:42, 7.1it/s]``) in a few hundred bytes.

Every bar in the package and the notebooks comes from here.
"""
from __future__ import annotations

#: Seconds between refreshes of a text bar in a headless run (keeps saved outputs small).
HEADLESS_MININTERVAL = 10.0


def _sparse_text_bar():
    from tqdm.std import tqdm as text_tqdm

    class SparseTextBar(text_tqdm):
        """tqdm's text bar whose refreshes (steps, ``set_postfix``, ``set_description``) are at most one per
        ``mininterval``; ``close`` still writes the final state."""

        _last_refresh = float("-inf")

        def refresh(self, nolock=False, lock_args=None):
            now = self._time()
            if now - self._last_refresh < self.mininterval:
                return False
            self._last_refresh = now
            return super().refresh(nolock=nolock, lock_args=lock_args)

    return SparseTextBar


def tqdm(*args, **kwargs):
    """A tqdm bar: the widget bar in a live frontend, a sparse text bar when headless.

    Takes tqdm's arguments unchanged (``desc``, ``total``, ``disable``, ``leave``...).
    """
    from .widgets import headless

    if headless():
        kwargs["mininterval"] = max(float(kwargs.get("mininterval", 0.1)), HEADLESS_MININTERVAL)
        kwargs.setdefault("dynamic_ncols", False)
        kwargs.setdefault("ncols", 88)
        return _sparse_text_bar()(*args, **kwargs)
    from tqdm.auto import tqdm as auto_tqdm

    return auto_tqdm(*args, **kwargs)
