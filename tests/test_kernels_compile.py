"""Compile checks for every CUDA source in talkface_lite/kernels/ (no GPU needed).

(a) ``nvcc -c`` of each ``*.cu`` on its own (the kernels include no torch
    headers), wherever a CUDA toolkit is found: a kernel that does not compile
    cannot land, even on CPU-only CI.
(b) With a CUDA build of torch, the full ``torch.utils.cpp_extension`` build of
    each extension (``X.cu`` + ``X_binding.cpp``, through the package's own
    ``kernels.build.load_extension``), imported but never run on a device.

Flags are lean on purpose (one architecture, -O1): this checks that the code
builds, not how fast it runs. Set ``TALKFACE_COMPILE_ARCH`` (e.g. ``sm_90``) to
check another architecture.
"""

import os
import shutil
import subprocess
import time
import warnings
from pathlib import Path

import pytest
import torch

from talkface_lite.kernels import build

CU_FILES = sorted(build.KERNEL_DIR.glob("*.cu"))
ARCH = os.environ.get("TALKFACE_COMPILE_ARCH", "sm_80")  # known to CUDA 11.0 ... 13.x


def _nvcc():
    home = build.find_cuda_home()
    if home is not None:
        return str(home / "bin" / "nvcc")
    return shutil.which("nvcc")


def test_kernel_sources_are_found():
    assert CU_FILES, f"no *.cu files under {build.KERNEL_DIR}"
    for cu in CU_FILES:
        binding = cu.with_name(f"{cu.stem}_binding.cpp")
        assert binding.is_file(), f"{cu.name} has no {binding.name}: every kernel needs its torch binding"


@pytest.mark.parametrize("cu", CU_FILES, ids=[p.name for p in CU_FILES])
def test_nvcc_compile_check(cu, tmp_path, record_property):
    nvcc = _nvcc()
    if nvcc is None:
        pytest.skip("nvcc compile check skipped: no CUDA toolkit (nvcc) found; set CUDA_HOME to enable it")
    text = cu.read_text()
    assert "torch/" not in text and "ATen/" not in text, (
        f"{cu.name} includes torch headers; keep torch glue in {cu.stem}_binding.cpp so plain nvcc can check it"
    )
    cmd = [nvcc, "-c", "-std=c++17", "-O1", f"-arch={ARCH}", str(cu), "-o", str(tmp_path / f"{cu.stem}.o")]
    start = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    record_property("nvcc_seconds", round(time.time() - start, 1))
    assert proc.returncode == 0, f"nvcc compile check of {cu.name} failed:\n{' '.join(cmd)}\n{proc.stderr[-4000:]}"
    assert (tmp_path / f"{cu.stem}.o").stat().st_size > 0


@pytest.mark.skipif(
    torch.version.cuda is None,
    reason="full extension build needs a CUDA build of torch (this torch is CPU-only); the nvcc check above still runs",
)
@pytest.mark.parametrize("cu", CU_FILES, ids=[p.name for p in CU_FILES])
def test_full_extension_build(cu, monkeypatch):
    if build.find_cuda_home() is None:
        pytest.skip("no CUDA toolkit with nvcc and libcudart found (set CUDA_HOME)")
    digits = ARCH.replace("sm_", "")  # "80" -> "8.0" (torch's spelling)
    monkeypatch.setenv("TORCH_CUDA_ARCH_LIST", os.environ.get("TORCH_CUDA_ARCH_LIST", f"{digits[:-1]}.{digits[-1]}"))
    name = f"compile_check_{cu.stem}"
    sources = [cu.name, f"{cu.stem}_binding.cpp"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = build.load_extension(name, sources, require_device=False)
    status = build.status(name)
    log = Path(status.log_path).read_text()[-4000:] if status and status.log_path else ""
    assert module is not None, f"cpp_extension build of {sources} failed: {status.reason if status else caught}\n{log}"
    exported = [k for k in dir(module) if not k.startswith("_")]
    assert exported, f"{name} was built but exports no functions"
