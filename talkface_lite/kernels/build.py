"""JIT-building our CUDA and C++ CPU kernels once, caching them, and falling back cleanly.

``load_extension("hashgrid", ["hashgrid.cu", "hashgrid_binding.cpp"])``
returns the compiled module, or ``None`` with exactly one clear warning that
says why (no CUDA device, a CPU-only torch, no nvcc, or a failed build, with
the path of the build log). Importing the package never builds or crashes;
a build happens on first use of a CUDA backend.

``load_cpu_extension("talkface_hashgrid_cpu", ["hashgrid_cpu.cpp", ...])``
does the same for the C++ CPU kernels (OpenMP on Linux): it returns the path
of the loaded library (its operators live under ``torch.ops.<name>``), or
``None`` after one warning (no C++ compiler, no ninja, a failed build with
its log). A library already in the cache is loaded without a compiler, so an
instructor can build once into a shared ``TALKFACE_KERNEL_CACHE`` for
students whose machines have none.

Builds are cached per torch version (CUDA: CUDA version and GPU architecture;
CPU: machine type) and source hash under ``$TALKFACE_KERNEL_CACHE`` (default
``~/.cache/talkface_lite/kernels``), so a course server builds once per
environment, not once per student notebook.

Explained in notebooks/02_hash_encoding.ipynb (backends).
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import os
import platform
import shlex
import shutil
import sys
import warnings
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

KERNEL_DIR = Path(__file__).resolve().parent


class KernelFallbackWarning(UserWarning):
    """A compiled kernel (CUDA or C++ CPU) is unavailable and the PyTorch reference is used instead."""


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
    return KernelStatus(
        "env", True, f"torch {torch.__version__} (CUDA {torch.version.cuda}), toolkit {find_cuda_home()}"
    )


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
    path = cache_root() / key / f"{name}-{digest.hexdigest()[:12]}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_root() -> Path:
    """``$TALKFACE_KERNEL_CACHE``, default ``~/.cache/talkface_lite/kernels`` (shared by CUDA and CPU builds)."""
    return Path(os.environ.get("TALKFACE_KERNEL_CACHE", Path.home() / ".cache" / "talkface_lite" / "kernels"))


_ENV_WARNED: Dict[str, str] = {}  # kind -> environment reason already announced


def _fallback(
    name: str, reason: str, log_path: Optional[Path] = None, kind: str = "CUDA", environment: bool = False
) -> None:
    """Record that ``name`` is unavailable and warn once.

    ``environment=True``: the reason holds for every kernel of this ``kind`` (no compiler, say), so one
    message covers them all instead of one per kernel.
    """
    status = KernelStatus(name, False, reason, log_path)
    _STATUS[name] = status
    if environment:
        if _ENV_WARNED.get(kind) == reason:
            return
        _ENV_WARNED[kind] = reason
        what = f"{kind} kernels"
    else:
        what = f"{kind} kernel '{name}'"
    where = f" Build log: {log_path}." if log_path else ""
    warnings.warn(
        f"talkface_lite: {what} unavailable ({reason}); using the PyTorch reference.{where} "
        f"Run `talkface-lite doctor` for details.",
        KernelFallbackWarning,
        stacklevel=3,
    )


def load_extension(
    name: str, sources: Sequence[str], require_device: bool = True, extra_cuda_cflags: Sequence[str] = ()
) -> Optional[object]:
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


# ----------------------------------------------------------------------------- C++ CPU kernels

#: compiler flags of the CPU kernels. -ffp-contract=off keeps ``a * b + c`` as two roundings (the PyTorch
#: reference's arithmetic); -fno-trapping-math (as torch's own build) lets floor() vectorise.
CPU_CFLAGS = ("-O3", "-ffp-contract=off", "-fno-trapping-math")
#: OpenMP on Linux (torch's own libgomp is reused: same soname); elsewhere the kernels run on one thread.
CPU_OPENMP_FLAGS = ("-fopenmp",) if sys.platform.startswith("linux") else ()


def cpu_isa_flags() -> Tuple[str, ...]:
    """``-mavx2`` or ``-msse4.1`` when this x86-64 CPU (Linux) has them, else nothing.

    Note:
        Not ``-march=native``: the flags are part of the cache key, so a cache shared between
        machines (``TALKFACE_KERNEL_CACHE``) holds one build per instruction set and never hands
        a machine a library it cannot run.
    """
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return ()
    try:
        with open("/proc/cpuinfo") as fh:
            line = next((ln for ln in fh if ln.startswith("flags")), "")
    except OSError:
        return ()
    flags = set(line.split(":", 1)[-1].split())
    if "avx2" in flags:
        return ("-mavx2",)
    if "sse4_1" in flags:
        return ("-msse4.1",)
    return ()


def cpu_cflags() -> Tuple[str, ...]:
    """Every compiler flag of a CPU kernel build on this machine (also part of its cache key)."""
    return CPU_CFLAGS + cpu_isa_flags() + CPU_OPENMP_FLAGS


def find_cxx() -> Optional[str]:
    """Path of the C++ compiler ``torch.utils.cpp_extension`` would use (``$CXX``, else ``c++``), or ``None``.

    ``$CXX`` may be a command such as ``ccache g++``: its first word must be an executable.
    """
    words = shlex.split(os.environ.get("CXX") or "c++")
    return shutil.which(words[0]) if words else None


def cpu_build_environment() -> KernelStatus:
    """Whether the C++ CPU kernels could be built here (no build is attempted)."""
    if os.environ.get("TALKFACE_NO_CPU_KERNELS", "").strip() not in ("", "0"):
        return KernelStatus("env", False, "disabled by TALKFACE_NO_CPU_KERNELS")
    cxx = os.environ.get("CXX") or "c++"
    if find_cxx() is None:
        return KernelStatus("env", False, f"no C++ compiler: {cxx!r} not found (install g++ or clang, or set CXX)")
    from torch.utils import cpp_extension

    if not cpp_extension.is_ninja_available():
        return KernelStatus("env", False, "ninja not found (pip install ninja)")
    return KernelStatus("env", True, f"C++ compiler {find_cxx()}")


def cpu_cache_dir(name: str, sources: Sequence[Path]) -> Path:
    """Build folder of a CPU extension, keyed by torch version, machine type, flags and a hash of the sources."""
    import torch

    digest = hashlib.sha1(" ".join(cpu_cflags()).encode())
    for src in sources:
        digest.update(Path(src).read_bytes())
    key = f"torch{torch.__version__}_cpu_{sys.platform}-{platform.machine()}"
    return cache_root() / key / f"{name}-{digest.hexdigest()[:12]}"


def load_cpu_extension(name: str, sources: Sequence[str], headers: Sequence[str] = ()) -> Optional[str]:
    """Build (once, cached) and load the C++ CPU extension ``name``; its operators are ``torch.ops.<name>``.

    Args:
        name: library name, also the ``TORCH_LIBRARY`` namespace the sources register.
        sources: ``.cpp`` file names relative to ``talkface_lite/kernels/``.
        headers: headers they include (part of the cache key).

    Returns:
        The path of the loaded library, or ``None`` after one :class:`KernelFallbackWarning`
        (no compiler, no ninja, a failed build: the warning names the build log).
    """
    if name in _MODULES:
        return _MODULES[name]
    if name in _STATUS and not _STATUS[name].available:
        return None
    import torch

    if os.environ.get("TALKFACE_NO_CPU_KERNELS", "").strip() not in ("", "0"):
        _fallback(name, "disabled by TALKFACE_NO_CPU_KERNELS", kind="C++ CPU", environment=True)
        return None
    paths = [KERNEL_DIR / s for s in sources]
    build_dir = cpu_cache_dir(name, paths + [KERNEL_DIR / h for h in headers])
    log_path = build_dir / "build.log"
    library = build_dir / f"{name}.so"
    done = build_dir / "build.ok"  # written after a complete build: a half-written library is never loaded
    if library.is_file() and done.is_file():
        try:
            torch.ops.load_library(str(library))
        except Exception as exc:  # noqa: BLE001 - a broken cache entry must fall back, never crash
            _fallback(name, f"cached library does not load: {str(exc).strip().splitlines()[0][:200]}", kind="C++ CPU")
            return None
        return _loaded(name, str(library), f"loaded from the cache {build_dir}", log_path)
    env = cpu_build_environment()
    if not env.available:
        _fallback(name, env.reason, kind="C++ CPU", environment=True)
        return None
    build_dir.mkdir(parents=True, exist_ok=True)
    from torch.utils import cpp_extension

    try:
        path = cpp_extension.load(
            name=name,
            sources=[str(p) for p in paths],
            build_directory=str(build_dir),
            extra_cflags=list(cpu_cflags()),
            extra_ldflags=list(CPU_OPENMP_FLAGS),
            is_python_module=False,
            verbose=False,
        )
    except Exception as exc:  # noqa: BLE001 - any build failure must fall back, never crash
        log_path.write_text(f"{type(exc).__name__}: {exc}\n")
        _fallback(name, f"build failed: {str(exc).strip().splitlines()[0][:200]}", log_path, kind="C++ CPU")
        return None
    log_path.write_text(f"build succeeded with {env.reason}\n")
    done.write_text("ok\n")
    return _loaded(name, str(path), f"built in {build_dir}", log_path)


def _loaded(name: str, path: str, reason: str, log_path: Path) -> str:
    _MODULES[name] = path
    _STATUS[name] = KernelStatus(name, True, reason, log_path)
    return path


def status(name: str) -> Optional[KernelStatus]:
    """What happened the last time ``name`` was requested in this process (``None``: not yet)."""
    return _STATUS.get(name)
