"""The on-disk speaker dataset: format, atomic writer, validating loader, ray and patch samplers.

Format version 1 (one folder per speaker)::

    <speaker>/
      meta.json          written last; see below
      frames/000000.png  RGB ground-truth frames, T of them, 6-digit index
      masks/000000.png   uint8 bit flags per pixel: 1 face, 2 mouth, 4 eyes, 8 head
                         (background = not head); see talkface_lite.data.masks
      background.png     static background plate (H, W, 3)
      poses.npy          (T, 4, 4) float32 camera-to-world, OpenCV camera axes
                         (x right, y down, z forward); the head pose is folded
                         into the camera, so the head is static in world = head frame
      landmarks.npy      (T, 68, 3) float32 landmarks in the head frame
      landmarks2d.npy    (T, 68, 2) float32 landmarks in pixels
      au45.npy           (T,) float32 blink intensity, OpenFace 0-5 scale
      audio.wav          16 kHz mono int16
      audio_<kind>.npy   (T, 16, D) float32 per-frame feature windows (talkface_lite.audio)

``meta.json`` holds ``format_version``, ``complete: true``, ``fps``,
``height``/``width``, ``n_frames``, ``intrinsics`` (3x3, pixels), ``near``/``far``
(along rays, world units), ``bbox`` (union of the face rectangles,
``[x0, y0, x1, y1]``), ``source``, ``splits`` (``{"train": [0, n], "val": [n, T]}``:
validation is the contiguous tail of the clip, so its audio is unseen), ``features``
(kind -> D), ``audio`` (sample rate, samples) and ``extra`` (free-form provenance).

Writing is atomic: everything goes into a hidden temp folder beside the
target (``.<name>.tmp-<pid>``), ``meta.json`` last, and the folder is renamed
into place only when complete. An existing dataset is replaced only with
``overwrite=True`` (rename old away, rename new in, delete old). A crash
leaves at most a hidden temp folder, never a folder that loads; the loader
refuses a folder without ``meta.json``, with another format version, with
``complete`` unset or with any missing or mis-shaped file, naming it.

Explained in notebooks/00_setup_and_tour.ipynb.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import shutil
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Optional, Sequence, Union

import numpy as np

from .. import audio as _audio
from ..checks import count_non_finite
from . import masks as _masks
from .leftovers import LeftoverWarning, clean_leftovers

if TYPE_CHECKING:
    from .sampling import SpeakerDataset

FORMAT_VERSION = 1
ARRAY_FILES = {"poses.npy": (4, 4), "landmarks.npy": (68, 3), "landmarks2d.npy": (68, 2), "au45.npy": ()}


class DatasetError(ValueError):
    """A dataset folder is missing, incomplete or malformed (the message names the file)."""


@dataclasses.dataclass
class SpeakerRecording:
    """One speaker clip in memory, ready for :func:`write_dataset`.

    Attributes:
        frames: ``(T, H, W, 3)`` uint8 RGB (an array or a ``np.memmap``).
        audio: ``(N,)`` float32 16 kHz mono.
        intrinsics: ``(3, 3)`` pinhole K in pixels.
        poses: ``(T, 4, 4)`` camera-to-world, OpenCV axes, head pose folded in.
        landmarks: ``(T, 68, 3)`` landmarks in the head frame.
        landmarks2d: ``(T, 68, 2)`` landmarks in pixels.
        au45: ``(T,)`` blink intensity (OpenFace 0-5 scale).
        fps: video frame rate (25 in this package).
        background: ``(H, W, 3)`` uint8 plate, or None to estimate it from the frames.
        near, far: ray bounds in world units.
        source: where the clip came from (a path, ``"synthetic:seed=0"``, ...).
        extra: free-form provenance stored in ``meta.json``.
    """

    frames: np.ndarray
    audio: np.ndarray
    intrinsics: np.ndarray
    poses: np.ndarray
    landmarks: np.ndarray
    landmarks2d: np.ndarray
    au45: np.ndarray
    fps: float = 25.0
    background: Optional[np.ndarray] = None
    near: float = 0.1
    far: float = 10.0
    source: str = "unknown"
    extra: dict = dataclasses.field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return int(len(self.frames))

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first field with a wrong shape, dtype or value."""
        t = self.n_frames
        if t == 0:
            raise ValueError("SpeakerRecording has no frames")
        f = self.frames
        if f.ndim != 4 or f.shape[-1] != 3 or f.dtype != np.uint8:
            raise ValueError(f"frames must be (T, H, W, 3) uint8, got {f.shape} {f.dtype}")
        h, w = f.shape[1:3]
        checks = {
            "poses": (self.poses, (t, 4, 4)),
            "landmarks": (self.landmarks, (t, 68, 3)),
            "landmarks2d": (self.landmarks2d, (t, 68, 2)),
            "au45": (self.au45, (t,)),
            "intrinsics": (self.intrinsics, (3, 3)),
        }
        for name, (arr, shape) in checks.items():
            arr = np.asarray(arr)
            if arr.shape != shape:
                raise ValueError(f"{name} must have shape {shape} for {t} frames, got {arr.shape}")
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"{name} contains NaN or inf values")
        a = np.asarray(self.audio)
        if a.ndim != 1 or a.size == 0:
            raise ValueError(f"audio must be (N,) 16 kHz mono samples, got shape {a.shape}")
        if self.background is not None and np.asarray(self.background).shape != (h, w, 3):
            raise ValueError(f"background must be ({h}, {w}, 3), got {np.asarray(self.background).shape}")
        if not 0 < self.near < self.far:
            raise ValueError(f"need 0 < near < far, got near={self.near}, far={self.far}")


def check_output_folder(out: Union[str, os.PathLike], overwrite: bool = False) -> bool:
    """Whether writing a dataset to ``out`` replaces one (``True``) or makes a new one (``False``).

    Raises:
        FileExistsError: ``out`` holds a dataset and ``overwrite`` is False, or holds anything else.
    """
    out = Path(out)
    blocker = next((p for p in out.parents if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise NotADirectoryError(
            f"{blocker} is a file, so {out} cannot be created inside it: choose another output folder"
        )
    if not out.exists():
        return False
    if is_dataset(out):
        if not overwrite:
            raise FileExistsError(
                f"{out} already holds a dataset; pass overwrite=True (CLI: --overwrite) to replace "
                "it, or choose another folder"
            )
        return True
    if out.is_dir() and not any(out.iterdir()):
        return False
    raise FileExistsError(
        f"{out} exists and is not a talkface dataset; refusing to write into it (choose a new or empty folder)"
    )


def is_dataset(path: Union[str, os.PathLike]) -> bool:
    """True when ``path`` holds a ``meta.json`` that declares a talkface dataset."""
    meta = Path(path) / "meta.json"
    try:
        return "format_version" in json.loads(meta.read_text())
    except (OSError, ValueError):
        return False


def _save_png(path: Path, img: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(np.ascontiguousarray(img)).save(path, compress_level=1)


def _write_frames(rec: SpeakerRecording, tmp: Path, progress: bool) -> np.ndarray:
    """Frames and masks into ``tmp``; returns the per-frame face rectangles ``(T, 4)``."""
    from ..progress import tqdm

    (tmp / "frames").mkdir()
    (tmp / "masks").mkdir()
    h, w = rec.frames.shape[1:3]

    def one(i: int):
        name = f"{i:06d}.png"
        _save_png(tmp / "frames" / name, rec.frames[i])
        _save_png(tmp / "masks" / name, _masks.frame_mask(rec.landmarks2d[i], h, w))
        return _masks.region_rect(rec.landmarks2d[i], "face", (h, w))

    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:  # PNG/zlib release the GIL
        rects = list(
            tqdm(
                pool.map(one, range(rec.n_frames)),
                total=rec.n_frames,
                desc="write frames",
                disable=not progress,
                leave=False,
            )
        )
    return np.asarray(rects, np.int64)


def _estimate_background(rec: SpeakerRecording) -> np.ndarray:
    h = rec.frames.shape[1]
    w = rec.frames.shape[2]
    idx = np.unique(np.linspace(0, rec.n_frames - 1, min(rec.n_frames, 100)).round().astype(int))
    fg = np.zeros((rec.n_frames, h, w), bool)
    for i in idx:
        fg[i] = _masks.decode(_masks.frame_mask(rec.landmarks2d[i], h, w), "head")
    return _masks.background_plate(rec.frames, fg, max_frames=100)


def write_dataset(
    rec: SpeakerRecording,
    out_dir: Union[str, os.PathLike],
    features: Sequence[str] = ("mel",),
    val_fraction: float = 0.1,
    overwrite: bool = False,
    progress: bool = True,
    extra_features: Optional[Dict[str, np.ndarray]] = None,
) -> Path:
    """Write a recording in the dataset format, atomically.

    Args:
        rec: the clip (validated first).
        out_dir: target folder; must not exist, be empty, or (with ``overwrite``) hold a dataset.
        features: audio feature kinds to store as ``audio_<kind>.npy`` (any of :data:`talkface_lite.audio.KINDS`).
        val_fraction: share of frames (the tail of the clip) held out for validation.
        overwrite: replace an existing dataset at ``out_dir``.
        progress: show a tqdm bar while writing frames.
        extra_features: pre-extracted windows to store too, kind -> ``(T, 16, D)``
            (e.g. ``{"deepspeech": aud_ds}``; see :func:`add_features`).

    Returns:
        ``out_dir`` as a resolved Path.

    Raises:
        FileExistsError: ``out_dir`` holds a dataset and ``overwrite`` is False, or
            holds other files (never replaced).
    """
    rec.validate()
    out = Path(out_dir).resolve()
    _audio.check_kinds(features)
    extra_features = dict(extra_features or {})
    for kind, arr in extra_features.items():
        check_feature_kind(kind, features)
        if np.asarray(arr).shape[:2] != (rec.n_frames, _audio.WINDOW):
            raise ValueError(
                f"extra feature {kind!r}: need a new kind with shape ({rec.n_frames}, {_audio.WINDOW}, D), "
                f"got {np.asarray(arr).shape}"
            )
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    for note in clean_leftovers(out.parent, out.name):  # a killed synth/prepare's .tmp folder (prepare already said)
        warnings.warn(note, LeftoverWarning, stacklevel=2)
    replace = check_output_folder(out, overwrite)
    if out.is_dir() and not replace:
        out.rmdir()  # an empty folder (check_output_folder refused anything else)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        t = rec.n_frames
        h, w = rec.frames.shape[1:3]
        rects = _write_frames(rec, tmp, progress)
        bg = rec.background if rec.background is not None else _estimate_background(rec)
        _save_png(tmp / "background.png", np.asarray(bg, np.uint8))
        np.save(tmp / "poses.npy", np.asarray(rec.poses, np.float32))
        np.save(tmp / "landmarks.npy", np.asarray(rec.landmarks, np.float32))
        np.save(tmp / "landmarks2d.npy", np.asarray(rec.landmarks2d, np.float32))
        np.save(tmp / "au45.npy", np.asarray(rec.au45, np.float32))
        _audio.save_wav(tmp / "audio.wav", rec.audio)
        dims = {}
        for kind in features:
            windows = _audio.frame_windows(_audio.compute_features(rec.audio, kind), t)  # (T, 16, D)
            np.save(tmp / f"audio_{kind}.npy", windows.astype(np.float32))
            dims[kind] = int(windows.shape[-1])
        for kind, arr in extra_features.items():
            np.save(tmp / f"audio_{kind}.npy", np.asarray(arr, np.float32))
            dims[kind] = int(np.asarray(arr).shape[2])
        n_val = int(round(t * val_fraction))
        if val_fraction > 0 and t > 1:
            n_val = min(max(n_val, 1), t - 1)
        meta = {
            "format_version": FORMAT_VERSION,
            "complete": True,
            "fps": float(rec.fps),
            "height": int(h),
            "width": int(w),
            "n_frames": t,
            "intrinsics": np.asarray(rec.intrinsics, float).tolist(),
            "near": float(rec.near),
            "far": float(rec.far),
            "bbox": [int(rects[:, 0].min()), int(rects[:, 1].min()), int(rects[:, 2].max()), int(rects[:, 3].max())],
            "source": str(rec.source),
            "splits": {"train": [0, t - n_val], "val": [t - n_val, t]},
            "features": dims,
            "audio": {"sample_rate": _audio.SAMPLE_RATE, "n_samples": int(len(rec.audio))},
            "extra": rec.extra,
            "written": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2, default=_json_default) + "\n")
        if replace:
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            try:
                os.replace(tmp, out)
            except OSError as exc:
                if is_dataset(out):  # another process finished writing the same folder while this one worked
                    raise FileExistsError(
                        f"{out} was written by another run while this one was working; nothing of "
                        "this run was kept. Write to another folder, or pass overwrite=True "
                        "(CLI: --overwrite) to replace it"
                    ) from exc
                raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _check_kind(kind: str) -> None:
    import re

    if not isinstance(kind, str) or not re.fullmatch(r"[a-z][a-z0-9_]{0,31}", kind):
        raise ValueError(f"feature kind {kind!r} must be a short lowercase name such as 'deepspeech' or 'hubert'")


def check_feature_kind(kind: str, computed: Sequence[str] = ()) -> None:
    """Refuse an imported feature kind's name: not a short lowercase name, or one of the kinds computed here.

    Raises:
        ValueError: naming the kind and what to call it instead.
    """
    _check_kind(kind)
    if kind in computed:
        raise ValueError(
            f"imported features are called {kind!r}, a kind this dataset computes itself "
            f"({', '.join(computed)}): import them under another name (e.g. {kind}_ext)"
        )


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def validate_dataset(path: Union[str, os.PathLike]) -> dict:
    """Check a dataset folder; return its meta. Raises :class:`DatasetError` naming the bad file."""
    root = Path(path)
    if not root.is_dir():
        raise DatasetError(
            f"dataset folder {root} does not exist (make one with `talkface-lite synth` or `talkface-lite prepare`)"
        )
    meta_path = root / "meta.json"
    if not meta_path.is_file():
        hidden = sorted(p.name for p in root.parent.glob(f".{root.name}.tmp-*"))
        why = f" (an interrupted write left {hidden[0]} beside it)" if hidden else ""
        raise DatasetError(
            f"{meta_path} is missing: {root} is not a complete dataset{why}. Re-run the command that makes it."
        )
    try:
        meta = json.loads(meta_path.read_text())
    except ValueError as exc:
        raise DatasetError(f"{meta_path} is not valid JSON ({exc}); the dataset is corrupt, re-create it") from exc
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise DatasetError(
            f"{meta_path}: format_version {version!r}, this talkface_lite reads version {FORMAT_VERSION}; "
            "re-create the dataset with this version"
        )
    if meta.get("complete") is not True:
        raise DatasetError(
            f"{meta_path} does not mark the dataset complete: it was interrupted while writing; re-create it"
        )
    for key in ("fps", "height", "width", "n_frames", "intrinsics", "near", "far", "splits", "features"):
        if key not in meta:
            raise DatasetError(f"{meta_path} lacks the key {key!r}")
    t = int(meta["n_frames"])
    for name, tail in ARRAY_FILES.items():
        _check_array(root / name, (t, *tail))
    for kind, d in meta["features"].items():
        _check_array(root / f"audio_{kind}.npy", (t, _audio.WINDOW, int(d)))
    for name in ("background.png", "audio.wav"):
        if not (root / name).is_file():
            raise DatasetError(f"{root / name} is missing")
    for sub in ("frames", "masks"):
        last = root / sub / f"{t - 1:06d}.png"
        if not (root / sub / "000000.png").is_file() or not last.is_file():
            raise DatasetError(f"{root / sub} lacks frames: expected 000000.png … {last.name} ({t} frames)")
    return meta


def _check_array(path: Path, shape: tuple) -> None:
    if not path.is_file():
        raise DatasetError(f"{path} is missing")
    try:
        arr = np.load(path, mmap_mode="r")
    except (ValueError, OSError) as exc:
        raise DatasetError(f"{path} is not a readable .npy array ({exc})") from exc
    if arr.shape != tuple(shape):
        raise DatasetError(f"{path} has shape {arr.shape}, expected {tuple(shape)}")
    n, first = count_non_finite(arr)
    if n:
        raise DatasetError(
            f"{path}: {n} of {arr.size} values are NaN or inf (first at index {first}); the dataset "
            "is damaged: re-create it (talkface-lite synth / prepare) or re-import that array"
        )


def add_features(path: Union[str, os.PathLike], kind: str, features, overwrite: bool = False) -> Path:
    """Store pre-extracted speech features (DeepSpeech ``aud_ds.npy``, HuBERT ``aud_hu.npy``...) in a dataset.

    The array goes through :func:`talkface_lite.audio.load_feature_array`, so
    ``(T, 16, 29)``, ``(T, 1024)`` and ``(T, 2, 1024)`` layouts are accepted and
    cut to the dataset's frame count; it is saved as ``audio_<kind>.npy`` and
    ``meta.json`` is rewritten (both atomically) to list it.

    Args:
        path: a dataset folder.
        kind: a short name, e.g. ``"deepspeech"`` or ``"hubert"``.
        features: a ``.npy`` path or an array.
        overwrite: replace a kind the dataset already has.

    Returns:
        The written ``audio_<kind>.npy``.
    """
    root = Path(path)
    meta = validate_dataset(root)
    _check_kind(kind)
    if kind in meta["features"] and not overwrite:
        raise FileExistsError(f"{root} already has {kind!r} features; pass overwrite=True to replace them")
    windows = _audio.load_feature_array(features, n_frames=int(meta["n_frames"]))  # (T, 16, D)
    if windows.shape[1] != _audio.WINDOW:
        raise ValueError(
            f"features have windows of {windows.shape[1]} steps; the dataset format stores "
            f"{_audio.WINDOW}-step windows (pass the 50 Hz sequence instead)"
        )
    target = root / f"audio_{kind}.npy"
    tmp = root / f".audio_{kind}.npy.tmp-{os.getpid()}.npy"
    np.save(tmp, windows.astype(np.float32))
    os.replace(tmp, target)
    meta["features"][kind] = int(windows.shape[2])
    from ..repro import atomic_write_text

    atomic_write_text(root / "meta.json", json.dumps(meta, indent=2, default=_json_default) + "\n")
    return target


def load_dataset(path: Union[str, os.PathLike], cache: Union[bool, str] = "auto") -> "SpeakerDataset":
    """Validate and open a dataset folder (see :class:`talkface_lite.data.sampling.SpeakerDataset`).

    Args:
        path: the dataset folder.
        cache: keep decoded frames in memory: True, False, or ``"auto"`` (when they fit in 1 GiB).

    Explained in notebooks/00_setup_and_tour.ipynb.
    """
    from .sampling import SpeakerDataset

    return SpeakerDataset(Path(path), validate_dataset(path), cache=cache)


def __getattr__(name):  # SpeakerDataset lives in sampling.py; re-export it lazily (no import cycle)
    if name == "SpeakerDataset":
        from .sampling import SpeakerDataset

        return SpeakerDataset
    raise AttributeError(name)


__all__ = [
    "DatasetError",
    "FORMAT_VERSION",
    "SpeakerDataset",  # noqa: F822 (lazy, see __getattr__)
    "SpeakerRecording",
    "add_features",
    "is_dataset",
    "load_dataset",
    "validate_dataset",
    "write_dataset",
]
