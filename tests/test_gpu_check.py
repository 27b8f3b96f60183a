"""`make gpu-check DRY_RUN=1`: the prepared GPU check's plumbing runs here, so it cannot rot before a GPU is lent.

The dry run must go through every step, report the CUDA parts as skipped with what would run on a GPU,
and really measure the rest (CPU kernels, benchmarks, a tiny training run).
"""

import csv
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"
STEPS = ("environment", "build", "parity", "bench_encoding", "bench_render", "mini_run")


def _steps(out: Path) -> dict:
    with open(out / "gpu_check.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {r["name"]: r["value"] for r in rows if r["step"] == "steps"}, rows


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU machine run `make gpu-check` itself")
def test_make_gpu_check_dry_run(tmp_path):
    proc = subprocess.run(
        ["make", "-s", "gpu-check", "DRY_RUN=1", f"OUT={tmp_path}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    status, rows = _steps(tmp_path)
    assert list(status) == list(STEPS)
    assert status["parity"] == "skipped" and all(status[s] == "ran" for s in STEPS if s != "parity")
    report = (tmp_path / "gpu_check.md").read_text()
    assert "dry run on the CPU" in report
    # the skipped CUDA parts say what a GPU would run
    assert "needs a CUDA device: on a GPU would run" in report
    assert "would build talkface_hashgrid and composite" in report
    measured = {(r["step"], r["name"]): r["value"] for r in rows}
    assert float(measured[("mini_run", "steps per s (after 10)")]) > 0
    assert 0 < float(measured[("mini_run", "held-out PSNR")]) < 60
    assert int(measured[("mini_run", "steps")]) == 30
    assert any(s == "bench_encoding" and "cpu" in n for s, n in measured)  # the CPU kernel was measured
    assert (tmp_path / "gpu_check.log").is_file()
    assert not (ROOT / "figures" / "bench_encoding_cuda.csv").exists()  # nothing written into figures/


def test_budget_skips_steps_with_the_reason(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--dry-run",
            "--out",
            str(tmp_path),
            "--budget-s",
            "30",
            "--only",
            "environment,build,mini_run",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    status, _ = _steps(tmp_path)
    assert status == {"environment": "ran", "build": "skipped", "mini_run": "skipped"}  # need 60 s and 120 s
    assert "budget:" in (tmp_path / "gpu_check.md").read_text()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU refusal")
def test_without_gpu_and_without_dry_run_refuses_in_one_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "--dry-run" in proc.stderr
    assert not (tmp_path / "gpu_check.md").exists()


def test_unknown_step_is_a_usage_error(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--dry-run", "--only", "parity,warp"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2 and "unknown step(s) warp" in proc.stderr
