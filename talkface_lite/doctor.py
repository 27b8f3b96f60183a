"""Environment check: the instructor's one command (``talkface-lite doctor``).

Each check returns a :class:`Check` with a level:

* ``ok``   — fine;
* ``info`` — an optional feature is absent (GPU, C++ compiler, tinycudann, weights): QUICK
  mode is unaffected, the notebooks say what they use instead;
* ``warn`` — something likely to hurt (little RAM or disk, no notebook kernel);
* ``fail`` — QUICK mode cannot run (Python too old, torch or a core
  dependency missing). Only ``fail`` makes the command exit non-zero.

Explained in notebooks/00_setup_and_tour.ipynb.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import json
import os
import platform
import shutil
import sys
from typing import Callable, List

from . import repro

LEVELS = ("ok", "info", "warn", "fail")
CORE_MODULES = ("numpy", "scipy", "matplotlib", "tqdm", "PIL", "imageio")
NOTEBOOK_MODULES = ("papermill", "nbval", "ipykernel", "nbformat")
MIN_PYTHON = (3, 9)
MIN_RAM_GB = 4.0
MIN_DISK_GB = 2.0


@dataclasses.dataclass
class Check:
    name: str
    level: str
    detail: str

    def line(self) -> str:
        return f"[{self.level.upper():4s}] {self.name:<26s} {self.detail}"


def check_python() -> Check:
    version = platform.python_version()
    if sys.version_info[:2] < MIN_PYTHON:
        return Check("python", "fail", f"{version}: need >= {'.'.join(map(str, MIN_PYTHON))}")
    return Check("python", "ok", f"{version} ({sys.executable})")


def check_torch() -> Check:
    try:
        import torch
    except ImportError as exc:
        return Check("torch", "fail", f"not importable ({exc}); run `make install` or see README")
    build = f"CUDA {torch.version.cuda} build" if torch.version.cuda else "CPU-only build"
    return Check("torch", "ok", f"{torch.__version__} ({build}, {torch.get_num_threads()} threads)")


def check_core_modules() -> Check:
    missing = []
    for name in CORE_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        return Check("core packages", "fail", f"missing {', '.join(missing)}: run `make install`")
    return Check("core packages", "ok", ", ".join(CORE_MODULES))


def check_notebook_tools() -> Check:
    missing = [m for m in NOTEBOOK_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        return Check(
            "notebook tools", "warn", f"missing {', '.join(missing)}: `make test`/`make reproduce` install them"
        )
    try:
        from jupyter_client.kernelspec import KernelSpecManager

        specs = KernelSpecManager().find_kernel_specs()
    except Exception as exc:  # noqa: BLE001 - a broken Jupyter install is a warning, not a crash
        return Check("notebook tools", "warn", f"kernel specs unreadable: {exc}")
    if "talkface-lite" not in specs:
        return Check("notebook tools", "warn", "kernel 'talkface-lite' not registered: run `make install`")
    return Check("notebook tools", "ok", f"papermill, nbval; kernel talkface-lite at {specs['talkface-lite']}")


def check_cuda() -> Check:
    import torch

    if not torch.cuda.is_available():
        why = "CPU-only torch" if torch.version.cuda is None else "no CUDA device visible"
        return Check("cuda device", "info", f"none ({why}); QUICK runs on the CPU, FULL needs a GPU")
    names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return Check("cuda device", "ok", "; ".join(names))


def check_kernels() -> Check:
    from .kernels import build_environment

    env = build_environment()
    if not env.available:
        return Check("cuda kernels", "info", f"cannot build ({env.reason}); PyTorch reference is used")
    return Check("cuda kernels", "ok", f"buildable: {env.reason}")


def check_cpu_kernels() -> Check:
    """Whether the C++ CPU kernels (hash encoding, compositing) are built; builds them once if they are not."""
    import warnings

    from .kernels import build
    from .kernels import composite as kc
    from .kernels import hashgrid_cpu as khc

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", build.KernelFallbackWarning)
        built = {"hash encoding": khc.load() is not None, "compositing": kc.cpu_kernel_module() is not None}
    names = {"hash encoding": khc.EXT_NAME, "compositing": kc.CPU_EXT_NAME}
    if all(built.values()):
        where = build.status(khc.EXT_NAME).reason
        return Check("cpu kernels", "ok", f"built ({', '.join(built)}); {where}")
    missing = [k for k, ok in built.items() if not ok]
    st = build.status(names[missing[0]])
    log = f", log {st.log_path}" if st and st.log_path else ""
    return Check(
        "cpu kernels",
        "info",
        f"not built for {', '.join(missing)} ({st.reason if st else 'unknown'}{log}); "
        "the PyTorch reference is used (slower, same results)",
    )


def check_tinycudann() -> Check:
    try:
        import tinycudann  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - any import failure means "not available"
        return Check("tinycudann", "info", f"not available ({type(exc).__name__}); optional backend")
    return Check("tinycudann", "ok", "imports; backend='tcnn' is available")


def check_ffmpeg() -> Check:
    try:
        import imageio_ffmpeg

        return Check("ffmpeg", "ok", imageio_ffmpeg.get_ffmpeg_exe())
    except Exception as exc:  # noqa: BLE001
        return Check("ffmpeg", "warn", f"imageio-ffmpeg binary unavailable ({exc}): video input/output disabled")


def check_weights() -> List[Check]:
    from .weights import weights_report

    out = []
    for row in weights_report():
        if row["path"]:
            out.append(Check(f"weights:{row['name']}", "ok", row["path"]))
        else:
            out.append(Check(f"weights:{row['name']}", "info", row["error"] or f"not found -> {row['if_missing']}"))
    return out


def check_perceptual() -> Check:
    """Which LPIPS network ``perceptual.load_lpips()`` would use (nothing is loaded)."""
    from .perceptual import LPIPS_NAME, STLPIPS_NAME, resolve_lpips

    try:
        kind, files = resolve_lpips("auto")
    except FileNotFoundError as exc:
        return Check("perceptual metric", "info", f"none ({exc}); LPIPS shows n/a")
    if kind == "lpips":
        return Check("perceptual metric", "ok", f"{LPIPS_NAME} from {files[0]}")
    return Check("perceptual metric", "ok", f"{STLPIPS_NAME} ({LPIPS_NAME} needs weights:alexnet_torchvision)")


def check_memory() -> Check:
    import psutil

    vm = psutil.virtual_memory()
    total, avail = vm.total / 2**30, vm.available / 2**30
    level = "ok" if avail >= MIN_RAM_GB else "warn"
    return Check("memory", level, f"{avail:.1f} GiB free of {total:.1f} GiB (QUICK needs ~{MIN_RAM_GB:.0f})")


def check_disk() -> Check:
    free = shutil.disk_usage(repro.project_root()).free / 2**30
    level = "ok" if free >= MIN_DISK_GB else ("fail" if free < 0.2 else "warn")
    return Check("disk", level, f"{free:.1f} GiB free at {repro.project_root()}")


def check_cpu() -> Check:
    return Check("cpu", "ok", f"{os.cpu_count()} cores, {platform.machine()}, {platform.system()}")


CHECKS: List[Callable] = [
    check_python,
    check_torch,
    check_core_modules,
    check_notebook_tools,
    check_cpu,
    check_memory,
    check_disk,
    check_cuda,
    check_kernels,
    check_cpu_kernels,
    check_tinycudann,
    check_ffmpeg,
    check_weights,
    check_perceptual,
]


def run_checks() -> List[Check]:
    """Run every check; a check that needs torch is skipped when torch is missing."""
    results: List[Check] = []
    torch_ok = True
    for fn in CHECKS:
        if not torch_ok and fn in (check_cuda, check_kernels, check_cpu_kernels, check_perceptual):
            continue
        out = fn()
        for check in out if isinstance(out, list) else [out]:
            results.append(check)
            if check.name == "torch" and check.level == "fail":
                torch_ok = False
    return results


def exit_code(results: List[Check]) -> int:
    """1 when any check is ``fail`` (QUICK mode cannot run), else 0."""
    return int(any(c.level == "fail" for c in results))


def report(results: List[Check], as_json: bool = False) -> str:
    if as_json:
        return json.dumps([dataclasses.asdict(c) for c in results], indent=2)
    lines = [c.line() for c in results]
    verdict = "QUICK mode: cannot run (see FAIL lines)" if exit_code(results) else "QUICK mode: ready"
    return "\n".join(lines + ["", verdict])
