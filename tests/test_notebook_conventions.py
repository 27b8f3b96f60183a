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


def test_checked_cells_exist_and_widgets_are_guarded(nb):
    path, book = nb
    tags = [t for c in _code(book) for t in c.metadata.get("tags", [])]
    assert "nbval-check-output" in tags, f"{path.name}: no cell prints checked facts"
    for cell in _code(book):
        if "interact(" in cell.source or "widgets." in cell.source:
            assert "INTERACTIVE" in cell.source, f"{path.name}: widgets must sit under `if INTERACTIVE:`"


def test_ends_with_exercises_and_finish(nb):
    path, book = nb
    assert any(c.cell_type == "markdown" and c.source.startswith("## Exercises") for c in book.cells), path.name
    assert "run.finish()" in _code(book)[-1].source, f"{path.name}: last code cell must call run.finish()"
    assert "repro.start_run" in "".join(c.source for c in _code(book)[:3]), f"{path.name}: start_run near the top"


def test_every_notebook_is_in_the_series(nb):
    path, _ = nb
    entry = series.by_stem(path.stem)
    assert entry.filename == path.name
