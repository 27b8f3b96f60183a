"""`talkface-lite reproduce`: papermill over notebooks, executed copies + manifest."""

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager

from talkface_lite import repro
from talkface_lite.commands import reproduce


def test_quick_flag_parsing():
    assert reproduce._bool("True") is True and reproduce._bool("0") is False and reproduce._bool("full") is False
    with pytest.raises(ValueError, match="QUICK must be True or False"):
        reproduce._bool("maybe")


def test_notebook_selection():
    root = repro.project_root()
    series = reproduce.notebook_list(root)
    assert series == sorted(series) and series[0].name.startswith("00_")
    assert reproduce.notebook_list(root, ["00"])[0].name == "00_setup_and_tour.ipynb"
    with pytest.raises(FileNotFoundError, match="available"):
        reproduce.notebook_list(root, ["99_nope"])


@pytest.mark.skipif("talkface-lite" not in KernelSpecManager().find_kernel_specs(), reason="kernel not registered")
def test_notebook_00_reproduces_with_a_manifested_figure(tmp_path):
    env = {
        "TALKFACE_FIGURES": str(tmp_path / "figures"),
        "TALKFACE_BUILD": str(tmp_path / "build"),
        "TALKFACE_HEADLESS": "0",
    }  # a person's shell: reproduce still runs its kernels headless
    source = nbformat.read(Path(__file__).resolve().parent.parent / "notebooks" / "00_setup_and_tour.ipynb", 4)
    source.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {"m": {}}}}  # a live save
    (tmp_path / "src").mkdir()
    nbformat.write(source, tmp_path / "src" / "00_setup_and_tour.ipynb")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "talkface_lite.cli",
            "reproduce",
            "--only",
            str(tmp_path / "src" / "00_setup_and_tour.ipynb"),
            "--out",
            str(tmp_path / "out"),
            "--device",
            "cpu",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**__import__("os").environ, **env},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    executed = nbformat.read(tmp_path / "out" / "00_setup_and_tour.ipynb", as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and "QUICK = True" in injected[0].source
    assert "widgets" not in executed.metadata, "a headless run saves no widget state, nor copies the source's"
    bars = [
        o.text for c in executed.cells for o in c.get("outputs", []) if o.get("name") == "stderr" and "%|" in o.text
    ]
    assert all(not re.search(r"(?<![\d.])\d{1,2}%\|", t) for t in bars), "progress bars saved unfinished"
    manifest = (tmp_path / "figures" / "MANIFEST").read_text()
    assert "00_series_map.png\t00_setup_and_tour\tQUICK\tcpu" in manifest
    assert (tmp_path / "figures" / "00_series_map.png").is_file()
    assert (tmp_path / "build" / "runs" / "00_setup_and_tour.json").is_file()
