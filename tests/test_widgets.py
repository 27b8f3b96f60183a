"""Interactive figures appear for a person at a live notebook and never in headless runs (talkface_lite/widgets.py),
and progress bars save as their finished state (talkface_lite/progress.py)."""

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from talkface_lite import progress, widgets  # noqa: E402

ipywidgets = pytest.importorskip("ipywidgets")


@pytest.mark.parametrize(
    "value, expected",
    [("1", True), ("true", True), ("yes", True), ("0", False), ("false", False), ("no", False), ("off", False)],
)
def test_headless_follows_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv(widgets.HEADLESS_ENV, value)
    assert widgets.headless() is expected


def test_outside_a_jupyter_kernel_is_headless(monkeypatch):
    monkeypatch.delenv(widgets.HEADLESS_ENV, raising=False)
    assert widgets.headless()  # pytest is not a kernel: nobody could see a widget


def test_interactive_none_asks_and_true_false_force(monkeypatch):
    monkeypatch.setenv(widgets.HEADLESS_ENV, "1")
    assert widgets.interactive(None) is False and widgets.interactive(True) is True
    monkeypatch.setenv(widgets.HEADLESS_ENV, "0")
    assert widgets.interactive(None) is True and widgets.interactive(False) is False


def test_interactive_refuses_other_values_and_missing_ipywidgets(monkeypatch):
    for bad in ("yes", 1):
        with pytest.raises(ValueError, match="None .*True or False"):
            widgets.interactive(bad)
    monkeypatch.setattr(widgets, "_have_ipywidgets", lambda: False)
    with pytest.raises(ImportError, match="make install"):
        widgets.interactive(True)
    monkeypatch.setenv(widgets.HEADLESS_ENV, "0")
    assert widgets.interactive(None) is False  # asked, without ipywidgets: the static figure only


def _line_figure(slope):
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [0, slope])
    ax.set_ylim(-5, 5)
    return fig


def test_live_figure_redraws_one_image_in_place():
    calls = []

    def draw(slope):
        calls.append(slope)
        return _line_figure(slope)

    open_before = set(plt.get_fignums())  # other tests may leave figures open
    slider = ipywidgets.IntSlider(1, -3, 3)
    box = widgets.live_figure(draw, {"slope": slider})
    image = box.children[-1]
    assert isinstance(image, ipywidgets.Image) and box.children[0] is slider
    first = image.value
    assert first[:8] == b"\x89PNG\r\n\x1a\n" and calls == [1]
    slider.value = -2
    assert calls == [1, -2] and image.value != first  # the same image widget, new pixels
    assert set(plt.get_fignums()) == open_before  # each drawn figure is closed: the inline backend cannot show it twice


def test_follow_updates_ranges_without_a_second_redraw():
    calls = []
    level = ipywidgets.IntSlider(3, 0, 3)
    vx = ipywidgets.IntSlider(100, 0, 127)

    def follow(controls, changed):
        controls["vx"].max = 16 * 2 ** controls["level"].value - 1  # level l spans 16 * 2^l vertices

    def draw(level, vx):
        calls.append((level, vx))
        return _line_figure(level)

    widgets.live_figure(draw, {"level": level, "vx": vx}, follow=follow)
    level.value = 1  # 32 vertices: vx is clamped to 31 by the new range, inside the same redraw
    assert vx.max == 31 and vx.value == 31
    assert calls == [(3, 100), (1, 31)]


def test_live_figure_refuses_bad_controls():
    with pytest.raises(ValueError, match="at least one control"):
        widgets.live_figure(_line_figure, {})
    with pytest.raises(ValueError, match="'slope' is a int, not an ipywidgets value widget"):
        widgets.live_figure(_line_figure, {"slope": 3})


def test_headless_notebook_bar_saves_only_its_finished_state(monkeypatch):
    monkeypatch.setenv(widgets.HEADLESS_ENV, "1")
    monkeypatch.setattr(widgets, "in_kernel", lambda: True)  # papermill's or nbval's kernel
    out = io.StringIO()
    bar = progress.tqdm(range(5000), desc="train", file=out, leave=False)  # leave=False would erase the line
    for step in bar:
        bar.set_postfix(loss=1.0 / (step + 1))  # forces a refresh in plain tqdm
    lines = out.getvalue().strip("\r\n").split("\n")
    assert len(lines) == 1 and "\r" not in lines[0], "one line, no earlier states for a static viewer to print"
    assert lines[0].startswith("train: 100%") and "5000/5000" in lines[0]


@pytest.mark.parametrize("headless, kernel", [("0", True), ("1", False)])
def test_live_notebooks_and_terminals_get_tqdm_auto(monkeypatch, headless, kernel):
    from tqdm.auto import tqdm as auto_tqdm

    monkeypatch.setenv(widgets.HEADLESS_ENV, headless)
    monkeypatch.setattr(widgets, "in_kernel", lambda: kernel)
    bar = progress.tqdm(range(3), disable=True)  # a terminal keeps its live text bar (talkface-lite train)
    assert isinstance(bar, auto_tqdm)
