"""The test command really fails on a raising cell and on a changed checked output.

Each case writes a tiny executed notebook, runs nbval on it exactly as
`make test` does (same kernel, same flags, same sanitizer), and checks the
exit status. A control case passes, so these tests can fail.
"""

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager

ROOT = Path(__file__).resolve().parent.parent
KERNEL = "talkface-lite"

pytestmark = pytest.mark.skipif(
    KERNEL not in KernelSpecManager().find_kernel_specs(),
    reason="kernel talkface-lite not registered (run `make install`)",
)


def _notebook(path: Path, cells):
    nb = nbformat.v4.new_notebook()
    for i, (src, tags, text) in enumerate(cells, start=1):
        cell = nbformat.v4.new_code_cell(src, execution_count=i)
        cell.metadata["tags"] = list(tags)
        if text is not None:
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
        nb.cells.append(cell)
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": KERNEL, "language": "python"}
    nbformat.write(nb, path)
    return path


def _nbval(path: Path) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "--nbval-lax",
        "--nbval-kernel-name",
        KERNEL,
        "--nbval-sanitize-with",
        str(ROOT / "notebooks" / "nbval_sanitize.cfg"),
        str(path),
    ]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=path.parent, timeout=300)


def test_control_notebook_passes(tmp_path):
    nb = _notebook(
        tmp_path / "ok.ipynb",
        [
            ("print(6 * 7)", ["nbval-check-output"], "42\n"),
            ("import time; print(time.time())", ["nbval-ignore-output"], "1.0\n"),
        ],
    )
    proc = _nbval(nb)
    assert proc.returncode == 0, proc.stdout[-2000:]


def test_raising_cell_fails(tmp_path):
    nb = _notebook(tmp_path / "raises.ipynb", [("print(1)", [], "1\n"), ("raise RuntimeError('boom')", [], None)])
    proc = _nbval(nb)
    assert proc.returncode != 0
    assert "boom" in proc.stdout


def test_changed_checked_output_fails(tmp_path):
    nb = _notebook(tmp_path / "changed.ipynb", [("print(6 * 7)", ["nbval-check-output"], "41\n")])
    proc = _nbval(nb)
    assert proc.returncode != 0
    assert "42" in proc.stdout and "41" in proc.stdout


CHATTY = (
    "import ipywidgets as w\nfrom IPython.display import display\n"
    "label = w.Label()\ndisplay(label)\n"
    "for i in range(12000):\n    label.value = f'{i:06d}' + '.' * 2000   # one 2 kB output message each\n"
    "print('done')"
)


@pytest.mark.parametrize("harness", [True, False], ids=["project-harness", "bare-nbval"])
def test_cell_with_thousands_of_output_messages(tmp_path, harness):
    """A long training cell sends thousands of progress messages before nbval reads any. Bare nbval loses the
    last ones (ZeroMQ drops past 1000 queued) and then times out waiting for them; the project's
    notebooks/conftest.py keeps them all."""
    if harness:
        (tmp_path / "conftest.py").write_text((ROOT / "notebooks" / "conftest.py").read_text())
    nb = _notebook(tmp_path / "chatty.ipynb", [(CHATTY, [], "done\n")])
    proc = _nbval(nb)
    if harness:
        assert proc.returncode == 0, proc.stdout[-2000:]
    else:
        assert proc.returncode != 0 and "waiting for output" in proc.stdout
