"""Progress bars that read well both live and in a saved notebook.

Outside a headless notebook run :func:`tqdm` is ``tqdm.auto``'s bar: a widget
bar in a live frontend (JupyterLab, VS Code, a classic notebook), tqdm's text
bar in a terminal or a log.

In a headless notebook run (papermill, nbval, ``make reproduce``: a Jupyter
kernel with ``TALKFACE_HEADLESS`` set, see :mod:`talkface_lite.widgets`) a
widget bar would be saved as a widget the file cannot restore, so the
committed notebook would show ``0%| | 0/300`` or, once trusted, a blank gap;
a text bar would save every refresh, which static viewers (GitHub, nbconvert)
print one after another, starting at 0%. There the bar writes one line when
it closes, its finished state (``train: 100%| 300/300 [00:42, 7.1it/s]``),
and nothing before.

Every bar in the package, the notebooks and the benchmarks comes from here.
"""

from __future__ import annotations


def _final_line_bar():
    from tqdm.std import tqdm as text_tqdm

    class FinalLineBar(text_tqdm):
        """tqdm's text bar that draws nothing until it closes, then its final state (``leave`` forced on)."""

        def refresh(self, nolock=False, lock_args=None):
            return False

    return FinalLineBar


def tqdm(*args, **kwargs):
    """A tqdm bar: ``tqdm.auto``'s, or one final line in a headless notebook run.

    Takes tqdm's arguments unchanged (``desc``, ``total``, ``disable``, ``leave``...).
    """
    from .widgets import headless, in_kernel

    if in_kernel() and headless():
        kwargs.update(leave=True, dynamic_ncols=False)
        kwargs.setdefault("ncols", 88)
        return _final_line_bar()(*args, **kwargs)
    from tqdm.auto import tqdm as auto_tqdm

    return auto_tqdm(*args, **kwargs)
