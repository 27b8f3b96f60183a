"""Reproducibility: seeding, determinism switches, device choice and run manifests.

Every notebook starts with::

    run = repro.start_run("03_triplane_nerf", quick=QUICK, device=DEVICE, seed=SEED)

which seeds Python, NumPy and PyTorch, picks the device, and writes a run
manifest (commit, config, device, package versions) under ``build/runs/``.
Settings derived later (an encoding's full config, its per-level resolutions
and parameter count) go in with ``run.record(name=value, ...)``, which
rewrites the manifest at once, under ``"recorded"``.
``run.finish()`` (or the end of the kernel) adds the wall time. Figures saved
through :func:`talkface_lite.viz.save` are attributed to the active run.

Explained in notebooks/00_setup_and_tour.ipynb.
"""

from __future__ import annotations

import atexit
import dataclasses
import datetime as _dt
import json
import os
import platform
import random
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import numpy as np

if TYPE_CHECKING:  # annotations only: importing torch is deferred to the functions that need it
    import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda")
_TRACKED_PACKAGES = ("torch", "numpy", "scipy", "matplotlib", "talkface_lite", "papermill", "nbval")


def project_root() -> Path:
    """The checkout holding ``pyproject.toml`` (editable installs), else the cwd.

    Notebooks are run from different working directories (papermill keeps the
    caller's, nbval uses the notebook folder), so every output path is resolved
    from here rather than from ``os.getcwd()``.
    """
    env = os.environ.get("TALKFACE_ROOT")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve().parent
    for candidate in (here.parent, *here.parents):
        if (candidate / "pyproject.toml").is_file() and (candidate / "talkface_lite").is_dir():
            return candidate
    return Path.cwd().resolve()


def output_dir() -> Path:
    """Where figures, tables and ``MANIFEST`` go: ``$TALKFACE_FIGURES`` or ``<root>/figures``."""
    env = os.environ.get("TALKFACE_FIGURES")
    path = Path(env).resolve() if env else project_root() / "figures"
    path.mkdir(parents=True, exist_ok=True)
    return path


def build_dir() -> Path:
    """Scratch space for caches, run manifests and executed notebooks: ``<root>/build``."""
    env = os.environ.get("TALKFACE_BUILD")
    path = Path(env).resolve() if env else project_root() / "build"
    path.mkdir(parents=True, exist_ok=True)
    return path


def seed_everything(seed: int = 0, deterministic: bool = True) -> None:
    """Seed ``random``, NumPy and PyTorch (all devices) and set determinism switches.

    Args:
        seed: the seed.
        deterministic: ask PyTorch for deterministic algorithms (``warn_only`` so
            an op without a deterministic version warns instead of failing) and
            disable cuDNN autotuning. CUDA atomics in our own kernels (hash-grid
            backward) still sum in a non-deterministic order: bitwise equality is
            only promised on CPU.
    """
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


def choose_device(device: str = "auto") -> "torch.device":
    """Resolve ``"auto" | "cpu" | "cuda" | "cuda:N"`` to a ``torch.device``.

    Raises:
        ValueError: for an unknown name, or ``cuda`` on a machine without a
            usable CUDA device (the message says how to fall back).
    """
    import torch

    name = (device or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            build = "a CPU-only build" if torch.version.cuda is None else f"a CUDA {torch.version.cuda} build"
            raise ValueError(
                f"device={device!r} was requested but CUDA is not available (torch {torch.__version__} is "
                f"{build}). Use --device cpu or auto (DEVICE=cpu with make), or install a CUDA build of torch (see README, 'GPU servers')."
            )
        return torch.device(name)
    raise ValueError(f"unknown device {device!r}: use one of {DEVICE_CHOICES} or 'cuda:N'")


def git_commit(root: Optional[Path] = None) -> str:
    """Short commit hash of the checkout, ``+dirty`` when its *source* differs from that commit, or ``"unknown"``.

    What runs write does not count: ``figures/`` (the artifacts themselves) and the outputs of notebooks
    executed in place; a notebook counts as changed only when a cell's source differs (see
    :func:`source_changes`).
    """
    root = root or project_root()
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=10", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        )
        if commit.returncode != 0:
            return "unknown"
        return commit.stdout.strip() + ("+dirty" if source_changes(root) else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _cell_sources(text: str) -> list:
    cells = json.loads(text).get("cells", [])
    return [(c.get("cell_type"), "".join(c.get("source", ""))) for c in cells]


def source_changes(root: Optional[Path] = None, outputs=("figures/",)) -> list:
    """Tracked paths whose source differs from ``HEAD``: files under ``outputs`` and notebooks whose cells'
    sources are unchanged (only outputs and execution counts differ) are not source changes."""
    root = Path(root or project_root())
    proc = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no", "-z"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=10,
    )
    changed = []
    entries = iter(e for e in proc.stdout.split("\0") if e)
    for entry in entries:
        path = entry[3:]
        if entry[0] in "RC":  # a rename or copy: the next entry is the old path
            next(entries, None)
        if any(path.startswith(o) for o in outputs):
            continue
        if path.endswith(".ipynb") and entry[:2].strip() == "M":
            head = subprocess.run(["git", "show", f"HEAD:{path}"], cwd=root, capture_output=True, text=True, timeout=10)
            try:
                if head.returncode == 0 and _cell_sources(head.stdout) == _cell_sources((root / path).read_text()):
                    continue
            except (OSError, ValueError):
                pass  # unreadable: count it as changed
        changed.append(path)
    return changed


def package_versions(names=_TRACKED_PACKAGES) -> dict:
    """Installed versions of the packages a result depends on (``None`` when absent)."""
    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    try:
        import torch

        out["torch_cuda"] = torch.version.cuda
    except ImportError:  # pragma: no cover - torch is a core dependency
        pass
    return out


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temp file and a rename (never half-written)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


@dataclasses.dataclass
class Run:
    """One execution of a notebook or script: its config and where its manifest lives."""

    name: str
    quick: bool
    device: Any
    seed: int
    config: dict
    started: float
    manifest_path: Path
    finished: bool = False
    recorded: dict = dataclasses.field(default_factory=dict)

    @property
    def mode(self) -> str:
        return "QUICK" if self.quick else "FULL"

    def manifest(self) -> dict:
        return {
            "name": self.name,
            "mode": self.mode,
            "device": str(self.device),
            "seed": self.seed,
            "config": self.config,
            "recorded": self.recorded,
            "commit": git_commit(),
            "versions": package_versions(),
            "host": {"platform": platform.platform(), "cpus": os.cpu_count()},
            "started": _dt.datetime.fromtimestamp(self.started, _dt.timezone.utc).isoformat(timespec="seconds"),
            "wall_time_s": round(time.time() - self.started, 2) if self.finished else None,
        }

    def write_manifest(self) -> Path:
        atomic_write_text(self.manifest_path, json.dumps(self.manifest(), indent=2, default=str) + "\n")
        return self.manifest_path

    def record(self, **values) -> None:
        """Add derived settings to the manifest (under ``"recorded"``) and rewrite it atomically.

        Args:
            **values: name -> value; a dataclass instance is stored as ``dataclasses.asdict``, other
                values must be JSON-serialisable (anything else is stored as its ``str``). Recording a
                name again replaces its value.

        Example::

            run.record(triplane=config.describe(), matched_log2=log2)
        """
        for name, value in values.items():
            if dataclasses.is_dataclass(value) and not isinstance(value, type):
                value = dataclasses.asdict(value)
            self.recorded[name] = value
        self.write_manifest()

    def finish(self) -> Path:
        """Record the wall time; returns the manifest path."""
        self.finished = True
        return self.write_manifest()

    def __str__(self) -> str:
        return f"run {self.name}: mode={self.mode} device={self.device} seed={self.seed}"


_ACTIVE: Optional[Run] = None


def start_run(
    name: str, quick: bool = True, device: str = "auto", seed: int = 0, deterministic: bool = True, **config
) -> Run:
    """Seed everything, choose the device and open a run manifest.

    Args:
        name: notebook or script name, e.g. ``"00_setup_and_tour"``.
        quick: QUICK (CPU, minutes) or FULL (paper scale) mode.
        device: ``"auto" | "cpu" | "cuda"``.
        seed: global seed.
        deterministic: see :func:`seed_everything`.
        **config: anything else that determines the result (recorded verbatim).

    Returns:
        The active :class:`Run`; figures saved afterwards are attributed to it.
    """
    global _ACTIVE
    seed_everything(seed, deterministic=deterministic)
    dev = choose_device(device)
    run = Run(
        name=name,
        quick=bool(quick),
        device=dev,
        seed=int(seed),
        config=dict(config),
        started=time.time(),
        manifest_path=build_dir() / "runs" / f"{name}.json",
    )
    run.write_manifest()
    _ACTIVE = run
    atexit.register(lambda r=run: r.finished or r.finish())
    return run


def active_run() -> Optional[Run]:
    """The run opened by the last :func:`start_run` in this process, if any."""
    return _ACTIVE


def is_quick_default() -> bool:
    """QUICK unless ``TALKFACE_QUICK`` says otherwise (used by scripts, not notebooks)."""
    return os.environ.get("TALKFACE_QUICK", "1").strip().lower() not in ("0", "false", "no", "full")


__all__ = [
    "Run",
    "active_run",
    "atomic_write_text",
    "build_dir",
    "choose_device",
    "git_commit",
    "source_changes",
    "output_dir",
    "package_versions",
    "project_root",
    "seed_everything",
    "start_run",
]
