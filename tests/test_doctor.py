"""talkface_lite.doctor and the CLI around it."""

import json
import subprocess
import sys

from talkface_lite import cli, doctor


def test_exit_code_only_for_failures():
    ok = [doctor.Check("a", "ok", ""), doctor.Check("b", "info", ""), doctor.Check("c", "warn", "")]
    assert doctor.exit_code(ok) == 0
    assert doctor.exit_code(ok + [doctor.Check("torch", "fail", "missing")]) == 1
    assert "cannot run" in doctor.report(ok + [doctor.Check("torch", "fail", "missing")])


def test_this_environment_can_run_quick():
    results = doctor.run_checks()
    names = {c.name for c in results}
    assert {"python", "torch", "core packages", "cuda device", "cuda kernels", "cpu kernels", "memory", "disk"} <= names
    assert doctor.exit_code(results) == 0, doctor.report(results)
    assert all(c.level in doctor.LEVELS for c in results)


def test_cpu_kernels_check_says_why_without_a_compiler(monkeypatch):
    from talkface_lite.kernels import build

    monkeypatch.setattr(build, "_STATUS", {})
    monkeypatch.setattr(build, "_MODULES", {})
    monkeypatch.setattr(build, "_ENV_WARNED", {})
    monkeypatch.setenv("TALKFACE_NO_CPU_KERNELS", "1")
    check = doctor.check_cpu_kernels()
    assert check.level == "info" and "TALKFACE_NO_CPU_KERNELS" in check.detail and "PyTorch reference" in check.detail


def test_missing_core_module_fails(monkeypatch):
    monkeypatch.setattr(doctor, "CORE_MODULES", ("numpy", "surely_not_a_module_xyz"))
    check = doctor.check_core_modules()
    assert check.level == "fail" and "surely_not_a_module_xyz" in check.detail


def test_cli_doctor_json():
    proc = subprocess.run(
        [sys.executable, "-m", "talkface_lite.cli", "doctor", "--json"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    checks = json.loads(proc.stdout)
    assert any(c["name"] == "torch" and c["level"] == "ok" for c in checks)


def test_cli_unknown_command(capsys):
    try:
        code = cli.main(["frobnicate"])
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    assert "invalid choice" in capsys.readouterr().err
