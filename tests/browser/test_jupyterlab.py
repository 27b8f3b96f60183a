"""A student's session, checked in a real browser: JupyterLab on 127.0.0.1, Debian's Chromium driven by Playwright.

For every notebook with an interactive figure (tests/test_notebook_conventions.py: INTERACTIVE_NOTEBOOKS) the test
opens a scratch copy in JupyterLab, runs all cells through the Run menu with ``INTERACTIVE`` left at its default
(``None``: the kernel is live, so sliders must appear), and then checks what the student sees:

- every cell ran, no output is an error, and no widget failed to render ("Error displaying widget",
  "model not found");
- there is exactly one live figure (talkface_lite.widgets.live_figure) and its image has real pixels;
- dragging its first slider redraws that figure in place: the pixels change, and no second figure appears;
- the browser console logged no errors.

Screenshots of the live figure before and after the drag, and the run time of each notebook, go to
``build/browser/`` (``TALKFACE_BROWSER_SHOTS`` names another folder, e.g. ``figures/browser``).

Run with ``make test-browser`` (installs the ``browser`` extra and Debian's chromium). The notebooks' heavy
steps reuse ``build/cache`` (the QUICK dataset and trained head of notebooks 07 and 09), so after ``make test`` or
``make reproduce`` the whole run takes minutes; on a fresh checkout it first trains them.
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REQUIRED = os.environ.get("TALKFACE_BROWSER_TEST") == "1"  # set by `make test-browser`: nothing may skip there
if not REQUIRED:
    pytest.importorskip("playwright.sync_api", reason="browser test: run `make test-browser`")
    pytest.importorskip("jupyterlab", reason="browser test: run `make test-browser`")

import nbformat  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from playwright.sync_api import TimeoutError as PlaywrightTimeout  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from talkface_lite import repro  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
from bootstrap import find_chromium  # noqa: E402

sys.path.pop(0)
sys.path.insert(0, str(ROOT / "tests"))
from test_notebook_conventions import INTERACTIVE_NOTEBOOKS  # noqa: E402

sys.path.pop(0)

NOTEBOOKS = sorted(p for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb") if p.stem[:2] in INTERACTIVE_NOTEBOOKS)
RUN_TIMEOUT_S = 1800  # one notebook's Run All (07 and 09 train first on a fresh checkout)
WIDGET_ERRORS = ("Error displaying widget", "model not found", "Failed to load model class")
SHOT_WIDTH = 520  # committed screenshots are scaled to this width, 64-colour PNGs
MIN_CHANGED = 0.002  # fraction of the figure's pixels a slider move must change


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def shots_dir() -> Path:
    out = Path(os.environ.get("TALKFACE_BROWSER_SHOTS") or ROOT / "build" / "browser")
    out = out if out.is_absolute() else ROOT / out
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab on 127.0.0.1 with a random token, serving scratch copies of the notebooks."""
    work = tmp_path_factory.mktemp("lab")
    for nb in NOTEBOOKS:  # a fresh copy: no outputs or execution counts, so only this run can fill them
        book = nbformat.read(nb, as_version=4)
        for cell in book.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        nbformat.write(book, work / nb.name)
    port, token = _free_port(), secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if k != "TALKFACE_HEADLESS"}  # a person's kernel is live
    env.update(
        TALKFACE_ROOT=str(ROOT),
        TALKFACE_FIGURES=str(ROOT / "build" / "browser" / "figures"),
        JUPYTER_CONFIG_DIR=str(work / ".jupyter-config"),
        MPLBACKEND="module://matplotlib_inline.backend_inline",
    )
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={work}",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.news_url=None",
        "--LabApp.extension_manager=readonly",
    ] + (["--allow-root"] if os.geteuid() == 0 else [])
    labconfig = work / ".jupyter-config" / "labconfig"  # no "Jupyter news?" toast over the figures
    labconfig.mkdir(parents=True)
    (labconfig / "page_config.json").write_text(
        json.dumps(
            {
                "disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True},
                "exposeAppInBrowser": True,  # window.jupyterapp, as JupyterLab's own UI tests (Galata) use
            }
        )
    )
    log = open(work / "lab.log", "w")
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=work)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if server.poll() is not None:
                raise RuntimeError(f"JupyterLab exited: {(work / 'lab.log').read_text()[-2000:]}")
            time.sleep(0.5)
    else:
        server.kill()
        raise RuntimeError("JupyterLab did not listen within 120 s")
    yield {"url": url, "token": token, "work": work}
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
    log.close()


@pytest.fixture(scope="module")
def browser():
    chromium = find_chromium()
    if chromium is None:
        pytest.fail("no Chromium found: `make test-browser` installs Debian's chromium (or set TALKFACE_CHROMIUM)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


def _png_array(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


def _save_small(png: bytes, path: Path) -> None:
    img = Image.open(io.BytesIO(png)).convert("RGB")
    if img.width > SHOT_WIDTH:
        img = img.resize((SHOT_WIDTH, round(img.height * SHOT_WIDTH / img.width)), Image.LANCZOS)
    img.quantize(64).save(path, optimize=True)


# The notebook as JupyterLab's model holds it (window.jupyterapp, exposed by the page config). The DOM is not
# enough: JupyterLab 4 detaches cells outside the viewport ("windowing"), so their prompts may not exist.
KERNEL_IDLE_JS = """() => {
    const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const s = w && w.sessionContext, k = s && s.session && s.session.kernel;
    return !!k && k.connectionStatus === 'connected' && s.kernelDisplayStatus === 'idle';
}"""
EXECUTED_JS = """() => {
    const w = window.jupyterapp.shell.currentWidget;
    return Array.from(w.content.model.cells).filter(c => c.type === 'code' && c.sharedModel.execution_count != null).length;
}"""
ERRORS_JS = """() => {
    const w = window.jupyterapp.shell.currentWidget;
    return Array.from(w.content.model.cells).flatMap(c => c.type === 'code' ? c.sharedModel.getOutputs() : [])
        .filter(o => o.output_type === 'error').map(o => `${o.ename}: ${o.evalue}`);
}"""


def _run_all(page) -> None:
    """Run All from the Run menu, as a person would, once the kernel is connected and idle. A click that lands
    while the session is still being wired up is ignored by JupyterLab (CI once waited 30 minutes on one), so
    if no cell has run 60 s after the click, click again (three tries)."""
    page.wait_for_function(KERNEL_IDLE_JS, timeout=120_000, polling=500)
    for _ in range(3):
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name=re.compile(r"^Run All Cells")).click()
        try:
            page.wait_for_function(f"() => ({EXECUTED_JS})() > 0", timeout=60_000, polling=500)
            return
        except PlaywrightTimeout:
            page.keyboard.press("Escape")  # close a menu left open
    raise AssertionError("Run All did not start any cell in three tries")


def _drag(page, slider) -> None:
    """Drag the slider's handle with the mouse, as a person would, to 85 % of its track (15 % if it sits right)."""
    handle = slider.locator(".noUi-handle").first
    track = slider.locator(".noUi-target, .slider").first
    h, t = handle.bounding_box(), track.bounding_box()
    page.mouse.move(h["x"] + h["width"] / 2, h["y"] + h["height"] / 2)
    page.mouse.down()
    at = (h["x"] + h["width"] / 2 - t["x"]) / t["width"]
    target = t["x"] + (0.85 if at < 0.5 else 0.15) * t["width"]
    for k in range(1, 11):
        page.mouse.move(h["x"] + h["width"] / 2 + k * (target - h["x"] - h["width"] / 2) / 10, h["y"] + h["height"] / 2)
    page.mouse.up()


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_run_all_then_drag_the_slider(lab, browser, shots_dir, notebook):
    console_errors = []
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: console_errors.append(f"page error: {e}"))
    start = time.time()
    page.goto(f"{lab['url']}/lab/tree/{notebook.name}?reset&token={lab['token']}")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
    _run_all(page)

    n_code = sum(c.cell_type == "code" for c in nbformat.read(notebook, as_version=4).cells)
    page.wait_for_function(
        f"n => ({EXECUTED_JS})() === n && ({KERNEL_IDLE_JS})()", arg=n_code, timeout=RUN_TIMEOUT_S * 1000, polling=1000
    )
    run_s = time.time() - start
    assert not page.evaluate(ERRORS_JS), f"{notebook.name}: a cell raised: {page.evaluate(ERRORS_JS)}"

    outputs = page.locator(".jp-OutputArea-output").all_inner_texts()
    assert not [t for t in outputs if any(e in t for e in WIDGET_ERRORS)], f"{notebook.name}: a widget failed to render"
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").all_inner_texts()
    assert not [t for t in errors if "Traceback" in t or re.search(r"^\w+Error\b", t, re.M)], (
        f"{notebook.name}: a cell raised:\n" + "\n".join(errors)[-3000:]
    )

    # JupyterLab 4 detaches cells outside the viewport ("windowing"), and Run All leaves the view at the
    # last cell: scroll the cell that builds the live figure (01's sits halfway down) back into view.
    page.evaluate(
        """async () => {
            const nb = window.jupyterapp.shell.currentWidget.content;
            const i = nb.widgets.findIndex(c => c.model.sharedModel.getSource().includes('live_figure('));
            if (i >= 0) { nb.activeCellIndex = i; await nb.scrollToItem(i, 'center'); }
        }"""
    )
    live = page.locator(".talkface-live")
    try:
        live.first.wait_for(state="attached", timeout=30_000)
    except PlaywrightTimeout:
        pass  # reported by the count below
    assert live.count() == 1, f"{notebook.name}: expected one live figure, found {live.count()}"
    figure = live.locator("img.talkface-live-figure")
    figure.wait_for(state="visible", timeout=60_000)
    assert figure.evaluate("img => img.naturalWidth") > 50, f"{notebook.name}: the live figure has no pixels"
    live.scroll_into_view_if_needed()
    before_src = figure.get_attribute("src")
    before = figure.screenshot()
    box_before = live.screenshot()

    slider = live.locator(".widget-slider").first
    _drag(page, slider)
    page.wait_for_function(
        "([img, src]) => img.src !== src", arg=[figure.element_handle(), before_src], timeout=300_000, polling=250
    )
    page.wait_for_timeout(500)
    after = figure.screenshot()
    box_after = live.screenshot()
    a, b = _png_array(before), _png_array(after)
    shape = tuple(min(x, y) for x, y in zip(a.shape, b.shape))
    changed = float((np.abs(a[: shape[0], : shape[1]] - b[: shape[0], : shape[1]]).sum(-1) > 30).mean())
    assert changed >= MIN_CHANGED, f"{notebook.name}: dragging the slider changed only {changed:.2%} of the figure"
    assert page.locator(".talkface-live").count() == 1 and live.locator("img").count() == 1, (
        f"{notebook.name}: the figure must be redrawn in place, not added"
    )

    _save_small(box_before, shots_dir / f"{notebook.stem}_before.png")
    _save_small(box_after, shots_dir / f"{notebook.stem}_after.png")
    record = shots_dir / "runs.json"
    runs = json.loads(record.read_text()) if record.exists() else {}
    runs[notebook.stem] = {
        "run_all_s": round(run_s, 1),
        "pixels_changed": round(changed, 4),
        "slider": slider.locator(".widget-label").first.inner_text().strip(),
        "commit": repro.git_commit(),
        "chromium": browser.version,
        "date": time.strftime("%Y-%m-%d"),
    }
    record.write_text(json.dumps(runs, indent=2, sort_keys=True) + "\n")
    page.close()
    assert not console_errors, f"{notebook.name}: browser console errors: {console_errors[:5]}"
