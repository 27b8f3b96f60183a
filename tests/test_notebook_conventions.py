"""Every notebook follows CONTRIBUTING.md: title cell, QUICK parameters, executed, exercises."""

import ast
import re
from pathlib import Path

import nbformat
import pytest

from talkface_lite import series

NB_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NB_DIR.glob("[0-9][0-9]_*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no NN_*.ipynb"


def _code(nb):
    return [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]


@pytest.fixture(params=NOTEBOOKS, ids=lambda p: p.stem)
def nb(request):
    return request.param, nbformat.read(request.param, as_version=4)


def test_title_cell_names_what_it_teaches_and_regenerates(nb):
    path, book = nb
    first = book.cells[0]
    assert first.cell_type == "markdown", f"{path.name}: first cell must be the markdown title"
    number = path.stem[:2]
    assert re.match(rf"#\s+{number}\s+·\s+\S", first.source), f"{path.name}: title must read '# {number} · Title'"
    assert "**Teaches:**" in first.source and "**Regenerates:**" in first.source, path.name


def test_parameters_cell_defaults_to_quick(nb):
    path, book = nb
    tagged = [c for c in _code(book) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: exactly one cell must be tagged 'parameters'"
    values = {}
    for node in ast.parse(tagged[0].source).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            values[node.targets[0].id] = node.value.value
    assert values.get("QUICK") is True, f"{path.name}: QUICK must default to True"
    assert values.get("DEVICE") == "auto" and "SEED" in values, f"{path.name}: DEVICE='auto' and SEED expected"
    assert _code(book)[0] is tagged[0], f"{path.name}: the parameters cell must be the first code cell"


def test_committed_executed_without_errors(nb):
    path, book = nb
    for i, cell in enumerate(_code(book)):
        assert cell.execution_count is not None, f"{path.name}: code cell {i} was not executed (make notebook NB=...)"
        errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
        assert not errors, f"{path.name}: code cell {i} holds an error output"
    assert book.metadata.get("kernelspec", {}).get("name") == "talkface-lite", f"{path.name}: wrong kernel"


#: Notebooks whose subject a slider makes visible (00 is a tour, 08 prints tables), one live figure each.
INTERACTIVE_NOTEBOOKS = {"01", "02", "03", "04", "05", "06", "07", "09"}


def test_checked_cells_exist_and_widgets_are_guarded(nb):
    path, book = nb
    tags = [t for c in _code(book) for t in c.metadata.get("tags", [])]
    assert "nbval-check-output" in tags, f"{path.name}: no cell prints checked facts"
    for cell in _code(book):
        if "interact(" in cell.source or "ipywidgets" in cell.source:
            assert cell.source.startswith("if INTERACTIVE:"), f"{path.name}: widgets must sit under `if INTERACTIVE:`"


def test_sliders_appear_for_a_person_and_never_headless(nb):
    path, book = nb
    params = _code(book)[0].source
    live = [c for c in _code(book) if c.source.startswith("if INTERACTIVE:")]
    if path.stem[:2] not in INTERACTIVE_NOTEBOOKS:
        assert "INTERACTIVE" not in params and not live, f"{path.name}: no sliders here, so no INTERACTIVE parameter"
        return
    assert re.search(r"^INTERACTIVE = None\b", params, re.M), f"{path.name}: INTERACTIVE must default to None (ask)"
    setup = "".join(c.source for c in _code(book)[:3])
    assert "INTERACTIVE = widgets.interactive(INTERACTIVE)" in setup, f"{path.name}: resolve INTERACTIVE in setup"
    assert len(live) == 1 and "widgets.live_figure(" in live[0].source, (
        f"{path.name}: one `if INTERACTIVE:` cell drawing one widgets.live_figure"
    )
    assert not live[0].get("outputs"), f"{path.name}: the committed run was headless, so the cell has no output"


def test_saved_outputs_hold_no_widgets_or_unfinished_bars(nb):
    path, book = nb
    for i, cell in enumerate(_code(book)):
        texts = {}
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            assert "application/vnd.jupyter.widget-view+json" not in data, (
                f"{path.name}: code cell {i} saved a widget (re-execute headless: make notebook NB=...)"
            )
            key = out.get("name", out.output_type)
            texts[key] = texts.get(key, "") + out.get("text", "") + "".join(data.get("text/plain", ""))
        # a static viewer (GitHub, nbconvert) prints every state, a live one what follows each line's last \r
        assert not any(re.search(r"(?<![\d.])\d{1,2}%\|", text) for text in texts.values()), (
            f"{path.name}: code cell {i} saved an unfinished progress bar state (re-execute: make notebook NB=...)"
        )
    assert "widgets" not in book.metadata, f"{path.name}: saved widget state in the metadata (re-execute headless)"


def test_ends_with_exercises_and_finish(nb):
    path, book = nb
    assert any(c.cell_type == "markdown" and c.source.startswith("## Exercises") for c in book.cells), path.name
    assert "run.finish()" in _code(book)[-1].source, f"{path.name}: last code cell must call run.finish()"
    assert "repro.start_run" in "".join(c.source for c in _code(book)[:3]), f"{path.name}: start_run near the top"


def test_every_notebook_is_in_the_series(nb):
    path, _ = nb
    entry = series.by_stem(path.stem)
    assert entry.filename == path.name
