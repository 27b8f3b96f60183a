"""Interactive figures for a person at a live notebook, and nothing for headless runs.

Every notebook has an ``INTERACTIVE`` parameter. Its default, ``None``, means
*ask* :func:`interactive`: sliders appear when a person runs the notebook in
a live frontend (JupyterLab, VS Code, a classic notebook) and never in a
headless run (papermill, nbval, ``make reproduce``, ``make test``), which
draws the static figure only and never waits on a widget. ``True`` or
``False`` forces the choice.

A run is headless when the environment variable :data:`HEADLESS_ENV` is set
(``talkface-lite reproduce`` and the Makefile's test targets set it for the
kernels they start), or when the code does not run in a Jupyter kernel at all.

:func:`live_figure` is the one way the notebooks show an interactive figure:
controls above *one* figure that is redrawn in place (an image widget whose
pixels are replaced), with a hook to make the ranges of some controls follow
others. See CONTRIBUTING.md ("Interactive figures").
"""

from __future__ import annotations

import io
import os
from typing import Callable, Dict, Optional

#: Set to 1 (or true/yes) for kernels that no person watches; 0 forces a live frontend.
HEADLESS_ENV = "TALKFACE_HEADLESS"


def in_kernel() -> bool:
    """True when this code runs in a Jupyter kernel (not a plain script or terminal IPython)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def headless() -> bool:
    """True when nobody watches: :data:`HEADLESS_ENV` set (not 0/false/no/off), or not inside a Jupyter kernel."""
    value = os.environ.get(HEADLESS_ENV, "").strip().lower()
    if value:
        return value not in ("0", "false", "no", "off")
    return not in_kernel()


def _have_ipywidgets() -> bool:
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


def interactive(requested: Optional[bool] = None) -> bool:
    """Resolve a notebook's ``INTERACTIVE`` parameter.

    Args:
        requested: ``None`` (the default in every notebook): True in a live frontend with ipywidgets
            installed, False in a headless run. ``True``/``False``: forced.

    Raises:
        ValueError: ``requested`` is not None, True or False.
        ImportError: ``requested`` is True and ipywidgets is not installed.
    """
    if requested is None:
        return not headless() and _have_ipywidgets()
    if not isinstance(requested, bool):
        raise ValueError(f"INTERACTIVE must be None (ask), True or False, got {requested!r}")
    if requested and not _have_ipywidgets():
        raise ImportError(
            "INTERACTIVE = True needs ipywidgets: run `make install` (it is in the dev extra) or set INTERACTIVE = None"
        )
    return bool(requested)


def figure_png(fig, dpi: int = 100) -> bytes:
    """PNG bytes of a matplotlib figure, which is then closed (so the inline backend never shows it too)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def live_figure(
    draw: Callable[..., object],
    controls: Dict[str, object],
    follow: Optional[Callable[[Dict[str, object], str], None]] = None,
    dpi: int = 100,
):
    """Controls above one figure that is redrawn in place whenever a control changes.

    Args:
        draw: ``draw(**values) -> matplotlib.figure.Figure``, called with every control's value by name. The
            figure is rendered to PNG and closed; return a new one each call.
        controls: name -> ipywidgets value widget (``IntSlider``, ``FloatSlider``, ``Dropdown``...), in
            display order.
        follow: optional ``follow(controls, changed_name)``, called once first (``changed_name`` None) and
            before each redraw, where ranges that depend on another control are updated (e.g. a coordinate's
            ``max`` after the level changed). Values it changes do not trigger a second redraw.
        dpi: resolution of the drawn PNG.

    Returns:
        an ``ipywidgets.VBox`` (controls, then the figure as an ``ipywidgets.Image``); display it as the
        cell's value. Its attribute ``redraw()`` draws again with the current values.

    Raises:
        ImportError: ipywidgets is not installed.
        ValueError: ``controls`` is empty or holds something that is not a widget with a value.
    """
    import ipywidgets as widgets

    if not controls:
        raise ValueError("live_figure needs at least one control (name -> ipywidgets slider)")
    for name, control in controls.items():
        if not isinstance(control, widgets.ValueWidget):
            raise ValueError(
                f"control {name!r} is a {type(control).__name__}, not an ipywidgets value widget "
                f"(IntSlider, FloatSlider, Dropdown...)"
            )
    image = widgets.Image(format="png")
    image.add_class("talkface-live-figure")

    busy = []  # non-empty while redrawing: changes made by ``follow`` join the redraw under way

    def redraw(changed: Optional[str] = None) -> None:
        if busy:
            return
        busy.append(changed)
        try:
            if follow is not None:
                follow(controls, changed)
            image.value = figure_png(draw(**{n: c.value for n, c in controls.items()}), dpi=dpi)
        finally:
            busy.clear()

    for name, control in controls.items():
        control.observe(lambda change, name=name: redraw(name), names="value")
    redraw()
    box = widgets.VBox([*controls.values(), image])
    box.add_class("talkface-live")
    box.redraw = redraw
    return box
