"""Every command ends a user error with one line on stderr (exit 2 refused input, 1 failed work), never a
traceback; `reproduce` checks its kernel once and never replaces a good executed notebook by a failed one;
provenance calls a checkout dirty only when its source differs."""

import errno
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import torch

from talkface_lite import cli, repro
from talkface_lite.commands import reproduce


def _run(*argv, **kw):
    return subprocess.run(
        [sys.executable, "-m", "talkface_lite.cli", *argv], capture_output=True, text=True, timeout=300, **kw
    )


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize(
    "argv, code, words",
    [
        (["reproduce", "--quick", "maybe"], 2, "QUICK must be True or False"),
        (["reproduce", "--only", "99"], 2, "no notebook matches '99'"),
        (["reproduce", "--only", "00", "--kernel", "no-such-kernel"], 2, "no Jupyter kernel named 'no-such-kernel'"),
        (["train", "/nonexistent/speaker", "/tmp/never-made-run"], 2, "/nonexistent/speaker"),
        (["synth", "/tmp/x", "--seconds", "0"], 2, "seconds"),
        (["synth", "/tmp/x", "--size", "abc"], 2, "invalid int value"),
    ],
)
def test_user_errors_end_in_one_line(argv, code, words, tmp_path):
    proc = _run(
        *argv,
        "--out" if argv[0] == "reproduce" else "--quiet",
        *([str(tmp_path / "out")] if argv[0] == "reproduce" else []),
    )
    assert proc.returncode == code, proc.stderr
    line = _one_line(proc.stderr)
    assert line.startswith(f"talkface-lite {argv[0]}: ") and words in line
    assert not (tmp_path / "out").exists()  # refused before anything was written


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_reproduce_cuda_without_gpu_is_one_line():
    proc = _run("reproduce", "--device", "cuda", "--only", "00")
    assert proc.returncode == 2
    assert "CUDA is not available" in _one_line(proc.stderr)


def test_failed_work_exits_1_in_one_line(monkeypatch, capsys, tmp_path):
    from talkface_lite.data import dataset

    def full_disk(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "speaker"))

    monkeypatch.setattr(dataset, "write_dataset", full_disk)
    assert cli.main(["synth", str(tmp_path / "speaker"), "--seconds", "1", "--size", "32", "--quiet"]) == 1
    assert (
        _one_line(capsys.readouterr().err)
        == f"talkface-lite synth: failed: No space left on device: {tmp_path / 'speaker'}"
    )


def test_every_command_takes_quiet():
    import importlib

    for name, (module_path, _) in cli.COMMANDS.items():
        parser = cli._Parser(prog=name)
        importlib.import_module(module_path).add_arguments(parser)
        flags = {s for a in parser._actions for s in a.option_strings}
        if name not in ("doctor", "reproduce"):  # doctor prints a report; reproduce shows papermill's bars
            assert "--quiet" in flags, name


class _FakePapermill:
    """Writes a partial notebook and fails, as papermill does when a cell raises."""

    def __init__(self, fail: bool):
        self.fail = fail

    def execute_notebook(self, src, dst, **kw):
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell("print('new run')")]
        nbformat.write(nb, dst)
        if self.fail:
            raise RuntimeError("cell 3 raised")


def test_a_failed_run_never_replaces_a_good_copy(tmp_path):
    src = tmp_path / "07_x.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), src)
    out = tmp_path / "out"
    out.mkdir()
    good = out / "07_x.ipynb"
    good.write_text("good executed copy")
    args = type("A", (), {"kernel": "k", "timeout": None, "failed_dir": out})()
    with pytest.raises(RuntimeError):
        reproduce._execute(_FakePapermill(fail=True), src, good, {}, args)
    assert good.read_text() == "good executed copy"
    assert "new run" in (out / "07_x.failed.ipynb").read_text()
    assert sorted(p.name for p in out.iterdir()) == ["07_x.failed.ipynb", "07_x.ipynb"]  # no scratch left
    reproduce._execute(_FakePapermill(fail=False), src, good, {}, args)
    assert "new run" in good.read_text()


def _git(root: Path, *argv):
    subprocess.run(["git", *argv], cwd=root, check=True, capture_output=True)


def test_dirty_means_the_source_differs(tmp_path):
    root = tmp_path / "repo"
    (root / "figures").mkdir(parents=True)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("print(1)")]
    nbformat.write(nb, root / "a.ipynb")
    (root / "m.py").write_text("x = 1\n")
    (root / "figures" / "t.md").write_text("old\n")
    _git(root, "init", "-q")
    _git(root, "-c", "user.email=t@t", "-c", "user.name=t", "add", ".")
    _git(root, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "init")
    assert not repro.git_commit(root).endswith("+dirty")
    (root / "figures" / "t.md").write_text("a run wrote this\n")  # an artifact
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    nb.cells[0].execution_count = 1
    nbformat.write(nb, root / "a.ipynb")  # executed in place: outputs only
    assert repro.source_changes(root) == [] and not repro.git_commit(root).endswith("+dirty")
    nb.cells[0].source = "print(2)"
    nbformat.write(nb, root / "a.ipynb")
    assert repro.source_changes(root) == ["a.ipynb"]
    (root / "m.py").write_text("x = 2\n")
    assert repro.source_changes(root) == ["a.ipynb", "m.py"] and repro.git_commit(root).endswith("+dirty")


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--motion", "1000"], "motion must be in [0, 5]"),
        (["--seconds", "100000"], "seconds must be a number in [1, 3600]"),
        (["--seconds", "3600", "--size", "2048"], "GiB of memory"),
        (
            ["--seconds", "600", "--features", "mel,phonez"],
            "unknown feature kind 'phonez'",
        ),  # before 600 s of rendering
        (["--features", ""], "has an empty entry"),  # a dataset no model could train on
        (["--features", "mel,"], "has an empty entry"),
        (["--workers", "0"], "--workers must be at least 1"),
    ],
)
def test_synth_refuses_what_cannot_work_before_starting(argv, words, tmp_path):
    proc = _run("synth", str(tmp_path / "speaker"), *argv, "--quiet")
    assert proc.returncode == 2
    assert words in _one_line(proc.stderr)
    assert list(tmp_path.iterdir()) == []


def test_synth_estimate_by_hand_and_disk_refusal(monkeypatch, tmp_path):
    import shutil
    from collections import namedtuple

    from talkface_lite.data import synthetic

    est = synthetic.estimate(10, 128)
    assert est.frames == 250
    assert est.memory_bytes == 250 * 128 * 128 * 3 + 250 * 68 * 5 * 4 + 160000 * 32
    assert est.disk_bytes == int(250 * 128 * 128 * 2.5)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 10**6, 10**6))  # 1 MB free
    with pytest.raises(ValueError, match=r"needs about 0\.01 GiB on disk but .* has 0\.00 GiB free"):
        synthetic.check_resources(10, 128, out_dir=tmp_path / "speaker")


def test_synth_into_an_existing_dataset_is_refused_before_generating(tmp_path):
    from speaker_fixtures import toy_recording

    from talkface_lite.data import dataset as ds

    out = ds.write_dataset(toy_recording(T=12), tmp_path / "speaker", progress=False)
    before = (out / "meta.json").read_text()
    proc = _run("synth", str(out), "--seconds", "3600", "--quiet")  # an hour: would take minutes if it started
    assert proc.returncode == 2 and "already holds a dataset" in _one_line(proc.stderr)
    assert (out / "meta.json").read_text() == before


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--max-size", "16"], "max_size must be an integer number of pixels in [64, 2048], got 16"),
        (["--workers", "0"], "workers must be in [1, 64], got 0"),
        (["--val-fraction", "1.5"], "val_fraction must be in [0, 1), got 1.5"),
        (["--focal", "-3"], "focal must be a positive focal length in pixels, got -3.0"),
    ],
)
def test_prepare_bounds_its_arguments_before_reading_the_video(argv, words, tmp_path):
    proc = _run("prepare", str(tmp_path / "missing.mp4"), str(tmp_path / "out"), *argv, "--quiet")
    assert proc.returncode == 2
    assert words in _one_line(proc.stderr)  # refused before the (missing) video is even looked at
    assert list(tmp_path.iterdir()) == []


def test_synth_under_a_file_is_refused_before_generating(tmp_path):
    (tmp_path / "afile").write_text("hi")
    proc = _run("synth", str(tmp_path / "afile" / "sub"), "--seconds", "3", "--size", "48", "--quiet")
    assert proc.returncode == 2
    assert f"{tmp_path / 'afile'} is a file" in _one_line(proc.stderr)
    assert (tmp_path / "afile").read_text() == "hi"
