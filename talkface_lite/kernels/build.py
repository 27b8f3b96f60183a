"""JIT-building our CUDA kernels once, caching them, and falling back cleanly.

``load_extension("hashgrid", ["hashgrid.cu", "hashgrid_binding.cpp"])``
returns the compiled module, or ``None`` with exactly one clear warning that
says why (no CUDA device, a CPU-only torch, no nvcc, or a failed build, with
the path of the build log). Importing the package never builds or crashes;
a build happens on first use of a CUDA backend.

Builds are cached per torch version, CUDA version, GPU architecture and
source hash under ``$TALKFACE_KERNEL_CACHE`` (default
``~/.cache/talkface_lite/kernels``), so a course server builds once per
environment, not once per student notebook.

Explained in notebooks/02_hash_encoding.ipynb (backends).
"""
from __future__ import annotations

import dataclasses
import glob
import hashlib
import os
import shutil
import warnings
from pathlib import Path
from typing import Dict, Optional, Sequence

KERNEL_DIR = Path(__file__).resolve().parent


class KernelFallbackWarning(UserWarning):
    """A CUDA kernel is unavailable and the PyTorch reference is used instead."""


@dataclasses.dataclass
class KernelStatus:
    """Outcome of trying to provide one extension."""

    name: str
    available: bool
    reason: str = ""
    log_path: Optional[Path] = None


_STATUS: Dict[str, KernelStatus] = {}
_MODULES: Dict[str, object] = {}


def find_cuda_home() -> Optional[Path]:
    """A CUDA toolkit folder holding both ``bin/nvcc`` and the ``libcudart`` runtime.

    Note:
        torch's own guess (``which nvcc``/..) is wrong when ``nvcc`` on PATH is a
        wrapper script, and linking then fails; we check each candidate for the
        runtime library before trusting it.
    """
    candidates = [os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"]
    nvcc = shutil.which("nvcc")
    if nvcc:
        candidates.append(str(Path(os.path.realpath(nvcc)).parent.parent))
    candidates += sorted(glob.glob("/usr/local/cuda-*"), reverse=True)
    for cand in candidates:
        if not cand:
            continue
        root = Path(cand)
        has_nvcc = (root / "bin" / "nvcc").is_file()
        has_rt = any(root.glob("lib64/libcudart.so*")) or any(root.glob("targets/*/lib/libcudart.so*"))
        if has_nvcc and has_rt:
            return root
    return None


def build_environment() -> KernelStatus:
    """Whether this environment could build a kernel at all (no build is attempted)."""
    import torch

    if os.environ.get("TALKFACE_NO_CUDA_KERNELS", "").strip() not in ("", "0"):
        return KernelStatus("env", False, "disabled by TALKFACE_NO_CUDA_KERNELS")
    if torch.version.cuda is None:
        return KernelStatus("env", False, f"torch {torch.__version__} is a CPU-only build")
    if find_cuda_home() is None:
        return KernelStatus("env", False, "no CUDA toolkit with nvcc and libcudart found (set CUDA_HOME)")
    return KernelStatus("env", True, f"torch {torch.__version__} (CUDA {torch.version.cuda}), toolkit {find_cuda_home()}")


def cache_dir(name: str, sources: Sequence[Path]) -> Path:
    """Build folder keyed by torch/CUDA version, GPU arch and a hash of the sources."""
    import torch

    digest = hashlib.sha1()
    for src in sources:
        digest.update(Path(src).read_bytes())
    arch = os.environ.get("TORCH_CUDA_ARCH_LIST", "")
    if not arch and torch.cuda.is_available():
        major, minor = torch.cuda.get_device_capability()
        arch = f"{major}.{minor}"
    key = f"torch{torch.__version__}_cu{torch.version.cuda}_sm{arch.replace(' ', '-').replace(';', '-') or 'none'}"
    root = Path(os.environ.get("TALKFACE_KERNEL_CACHE", Path.home() / ".cache" / "talkface_lite" / "kernels"))
    path = root / key / f"{name}-{digest.hexdigest()[:12]}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _fallback(name: str, reason: str, log_path: Optional[Path] = None) -> None:
    status = KernelStatus(name, False, reason, log_path)
    _STATUS[name] = status
    where = f" Build log: {log_path}." if log_path else ""
    warnings.warn(
        f"talkface_lite: CUDA kernel '{name}' unavailable ({reason}); using the PyTorch reference.{where} "
        f"Run `talkface-lite doctor` for details.",
        KernelFallbackWarning,
        stacklevel=3,
    )


def load_extension(name: str, sources: Sequence[str], require_device: bool = True,
                   extra_cuda_cflags: Sequence[str] = ()) -> Optional[object]:
    """Build (once, cached) and import the extension ``name`` from ``sources``.

    Args:
        name: extension name, also the module name.
        sources: file names relative to ``talkface_lite/kernels/``.
        require_device: skip the build when no CUDA device is visible (the
            normal case); ``False`` builds anyway, for compile checks.
        extra_cuda_cflags: extra nvcc flags.

    Returns:
        The compiled module, or ``None`` after one :class:`KernelFallbackWarning`.
    """
    if name in _MODULES:
        return _MODULES[name]
    if name in _STATUS and not _STATUS[name].available:
        return None
    import torch

    env = build_environment()
    if not env.available:
        _fallback(name, env.reason)
        return None
    if require_device and not torch.cuda.is_available():
        _fallback(name, "no CUDA device visible")
        return None
    os.environ.setdefault("CUDA_HOME", str(find_cuda_home()))
    paths = [KERNEL_DIR / s for s in sources]
    build_dir = cache_dir(name, paths)
    log_path = build_dir / "build.log"
    from torch.utils import cpp_extension

    try:
        module = cpp_extension.load(
            name=name,
            sources=[str(p) for p in paths],
            build_directory=str(build_dir),
            # no -std flag: torch passes the standard its headers need (C++17 up to
            # 2.9, C++20 after); forcing c++17 breaks the build on newer torch
            extra_cflags=["-O3"],
            extra_cuda_cflags=["-O3", *extra_cuda_cflags],
            verbose=False,
        )
    except Exception as exc:  # noqa: BLE001 - any build failure must fall back, never crash
        log_path.write_text(f"{type(exc).__name__}: {exc}\n")
        _fallback(name, f"build failed: {str(exc).strip().splitlines()[0][:200]}", log_path)
        return None
    log_path.write_text("build succeeded\n")
    _MODULES[name] = module
    _STATUS[name] = KernelStatus(name, True, f"built in {build_dir}", log_path)
    return module


def status(name: str) -> Optional[KernelStatus]:
    """What happened the last time ``name`` was requested in this process (``None``: not yet)."""
    return _STATUS.get(name)
