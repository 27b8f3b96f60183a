"""Drive a trained talking head with any audio: audio -> features -> landmarks -> blinks -> frames -> mp4.

The pipeline (paper Fig. 2, inference)::

    audio file (wav/mp3/mp4, any rate, stereo mixed down) -> 16 kHz mono
      -> the run's audio feature kind, one (16, D) window per 25 fps frame
      -> the run's Dynamic Landmark Transformer -> 68 3D landmarks per frame
      -> AU45 per frame: the speaker's renewal blink generator (rate, durations, profile fitted on the
         training clip, notebook 06), none (eyes open), or a given AU45 array
      -> the field under the chosen head poses -> frames
      -> H.264 mp4 with the audio muxed in (the ffmpeg binary of imageio-ffmpeg)

Blinks come from the renewal generator alone: the eye-movement predictor of notebook 06 forecasts one
frame ahead from the true eye state, which tells us how well eye state is predictable, but rolled out on
its own it only persists the current state and never starts a blink.

Poses: ``"train"`` replays the training-split poses, mirrored back and forth when the audio is longer
(as ER-NeRF and GeneFace do); ``"smooth"`` is the same path low-passed over one second; ``"still"``
holds the training pose closest to the mean head position.

Frames are rendered and written one at a time, so memory does not grow with the audio's length.

Explained in notebooks/09_drive_with_new_audio.ipynb.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Union

import numpy as np
import torch

from . import audio as _audio

POSES = ("train", "smooth", "still")
MIN_SAMPLES = _audio.SAMPLE_RATE // 25  # one 25 fps video frame (40 ms) of 16 kHz audio
MIN_SPEECH_S = 0.1  # audio with less than this above -60 dBFS (20 ms RMS) is silence: a click is not speech


class DriveError(ValueError):
    """The audio, the run or the output cannot be used (the message says why and what to do)."""


@dataclass
class DriveResult:
    """What :func:`drive` produced.

    Attributes:
        frames: ``(T, H, W, 3)`` uint8 frames (None when they were streamed to ``out``).
        landmarks: ``(T, 68, 3)`` predicted landmarks (head frame).
        au45: ``(T,)`` AU45 used for the eyes.
        poses: ``(T, 4, 4)`` cameras used.
        notes: what was done to the input (resampling, mixing down, silence), one line each.
        out: the mp4 written, if any.
    """

    frames: Optional[np.ndarray]
    landmarks: np.ndarray
    au45: np.ndarray
    poses: np.ndarray
    notes: List[str] = field(default_factory=list)
    out: Optional[Path] = None


def probe_audio(path: Union[str, os.PathLike]) -> dict:
    """Sample rate and channel count of a file's first audio stream (``{"rate": int, "channels": int}``;
    empty when ffmpeg does not say)."""
    cmd = [_audio.ffmpeg_exe(), "-nostdin", "-hide_banner", "-i", str(path)]
    err = subprocess.run(cmd, capture_output=True).stderr.decode("utf-8", "replace")
    m = re.search(r"Audio: [^\n]*?(\d+) Hz, ([^,\n]+)", err)
    if not m:
        return {}
    layout = m.group(2).strip()
    channels = {"mono": 1, "stereo": 2}.get(layout)
    if channels is None:
        n = re.match(r"(\d+)", layout)
        channels = int(n.group(1)) if n else 0
    return {"rate": int(m.group(1)), "channels": channels}


@contextmanager
def _adjustments_as_notes(notes: List[str]):
    """Collect :class:`~talkface_lite.audio.AudioAdjustmentWarning` messages (DC removed, scaled to full
    scale, integer PCM converted) into ``notes``; other warnings pass through."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        if issubclass(w.category, _audio.AudioAdjustmentWarning):
            notes.append(str(w.message))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def check_driving_wave(wave: np.ndarray, notes: List[str], kind: Optional[str] = None, name: str = "the audio"):
    """Refuse a 16 kHz waveform nothing sensible can be driven with, and note silence; returns ``notes``.

    Silence is less than :data:`MIN_SPEECH_S` of 20 ms frames whose RMS around the median reaches
    :data:`talkface_lite.audio.SILENT_PEAK` (-60 dBFS): digital zeros, faint noise, or a click in either.
    Log-mel, MFCC and phones read silence as silence, so the mouth holds the model's pose for silence
    (notebook 09 measures it closed). ``mel_cmvn`` standardises each clip by its own level: silence, or
    noise with no speech, would be scaled up to the size of speech and move the mouth, so it is refused.

    Raises:
        DriveError: fewer samples than one 25 fps frame (40 ms), or silence for ``kind="mel_cmvn"``.
    """
    if len(wave) < MIN_SAMPLES:
        raise DriveError(
            f"{name} is {len(wave) / _audio.SAMPLE_RATE * 1000:.1f} ms long: at least one 25 fps frame (40 ms) "
            "of audio is needed to drive a frame; give a longer clip"
        )
    n = len(wave) // 320
    frames = (wave[: n * 320] - np.median(wave)).reshape(n, 320).astype(np.float64)  # (n, 20 ms)
    loud_s = float((np.sqrt(np.mean(frames**2, axis=1)) >= _audio.SILENT_PEAK).sum()) * 0.02
    if loud_s < MIN_SPEECH_S:
        what = f"{name} is silent ({loud_s:.2f} s of it is louder than -60 dBFS)"
        if kind == "mel_cmvn":
            raise DriveError(
                f"{what}: mel_cmvn features normalise each clip by its own level, so silence would read as "
                "speech and move the mouth; give speech, or drive a mel run"
            )
        notes.append(f"{what}: there is no speech to follow, so the mouth holds the model's pose for silence")
    return notes


def load_driving_audio(path: Union[str, os.PathLike], kind: Optional[str] = None):
    """Load any audio for driving: ``(N,)`` float32 16 kHz mono and notes on what was done to it.

    Args:
        path: an audio or video file.
        kind: the feature kind it will drive (silence is refused for ``mel_cmvn``, see
            :func:`check_driving_wave`).

    Raises:
        DriveError: a missing file or a folder, no audio stream, an undecodable file, NaN samples, audio
            shorter than one frame, silence for ``mel_cmvn``.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise DriveError(f"an audio path must be a str or pathlib.Path, got {type(path).__name__}")
    path = Path(path)
    if path.is_dir():
        raise DriveError(f"{path} is a folder, not an audio file: give the path of a wav/mp3/mp4 file")
    if not path.is_file():
        raise DriveError(f"audio file {path} does not exist")
    info = probe_audio(path)
    notes: List[str] = []
    try:
        with _adjustments_as_notes(notes):
            wave = _audio.load_audio(path)
    except (ValueError, OSError) as exc:
        raise DriveError(f"cannot use {path} as audio: {exc}") from None
    if info.get("channels", 1) > 1:
        notes.append(f"mixed {info['channels']} channels down to mono")
    if info.get("rate"):
        notes += _rate_notes(info["rate"])
    return wave, check_driving_wave(wave, notes, kind, path.name)


@dataclass
class DrivenLandmarks:
    """What :func:`landmarks_from_audio` produced.

    Attributes:
        landmarks: ``(T, 68, 3)`` float32 predicted landmarks (head frame), one per 25 fps frame.
        feats: ``(T, 16, D)`` float32 the audio windows the model read.
        audio: ``(N,)`` float32 16 kHz mono waveform.
        kind: the feature kind.
        notes: what was done to the input (resampling, mixing down, integer PCM converted, DC offset removed,
            scaled to full scale, silence), one line each.
    """

    landmarks: np.ndarray
    feats: np.ndarray
    audio: np.ndarray
    kind: str
    notes: List[str] = field(default_factory=list)


def model_feature_dim(model: torch.nn.Module) -> Optional[int]:
    """The per-step feature size ``D`` a landmark model was built for (its feature normaliser's), or None."""
    from .models.audio_encoder import FeatureNorm

    dims = {m.mean.numel() for m in model.modules() if isinstance(m, FeatureNorm)}
    return dims.pop() if len(dims) == 1 else None


def _rate_notes(rate: int) -> List[str]:
    """Notes for audio that arrived at ``rate`` Hz (resampled; band-limited below 16 kHz)."""
    if rate == _audio.SAMPLE_RATE:
        return []
    notes = [f"resampled {rate} Hz -> {_audio.SAMPLE_RATE} Hz"]
    if rate < _audio.SAMPLE_RATE:
        notes.append(
            f"{rate} Hz audio has nothing above {rate // 2} Hz: the features of higher bands are empty and the "
            "lips may move less than with 16 kHz audio"
        )
    return notes


def _model_kind(model: torch.nn.Module, kind: Optional[str]) -> str:
    """The feature kind to compute for ``model``: checked against what the model says it reads."""
    dim = model_feature_dim(model)
    known = getattr(model, "feature_kind", None)
    if kind is None and known is not None:
        kind = known
    if kind is None:
        fits = [k for k in _audio.KINDS if _audio.FEATURE_DIMS[k] == dim]
        if len(fits) != 1:
            which = " or ".join(f"kind={k!r}" for k in fits) if fits else f"kind= (one of {_audio.KINDS})"
            raise DriveError(
                f"cannot tell which feature kind a model with D={dim} reads (it does not record one): pass {which}"
            )
        kind = fits[0]
    if kind not in _audio.KINDS:
        raise DriveError(
            f"feature kind {kind!r} is not computed from audio here: use one of {_audio.KINDS} "
            "(DeepSpeech/HuBERT arrays come from their own tools; pass them to predict_landmarks)"
        )
    if known is not None and kind != known:
        raise DriveError(
            f"the model was trained on {known!r} features, not {kind!r}: pass kind={known!r} or leave it out"
        )
    if dim is not None and _audio.FEATURE_DIMS[kind] != dim:
        raise DriveError(
            f"the model reads D={dim} features but {kind!r} has D={_audio.FEATURE_DIMS[kind]}: pass the kind "
            f"it was trained on ({_audio.describe_dim(dim)})"
        )
    return kind


def _waveform(audio, sr) -> tuple:
    """A waveform argument as 16 kHz float32 mono, and notes on what was done to it."""
    if isinstance(audio, bytes):
        raise DriveError("give an audio path as str or pathlib.Path, not bytes (decode it: path.decode())")
    number = not isinstance(sr, bool) and isinstance(sr, (int, float, np.integer, np.floating))
    if not number or not np.isfinite(sr) or sr != int(sr):
        raise DriveError(f"sr must be the waveform's sample rate in whole Hz, got {sr!r}")
    if not 4000 <= sr <= 192000:
        raise DriveError(f"sr must be between 4000 and 192000 Hz (the waveform's sample rate), got {sr!r}")
    wave = np.asarray(audio)
    if wave.dtype == bool or not np.issubdtype(wave.dtype, np.number) or np.iscomplexobj(wave):
        raise DriveError(f"a waveform must hold real samples, got dtype {wave.dtype}")
    if wave.ndim != 1:
        raise DriveError(f"a waveform must be mono (N,), got shape {wave.shape}; average the channels first")
    notes: List[str] = []
    if np.issubdtype(wave.dtype, np.integer):
        notes.append(f"integer {wave.dtype} samples converted to float in [-1, 1]")
        wave = _audio._to_float_mono(wave)  # the one PCM conversion (uint8 is offset binary)
    wave = wave.astype(np.float32)
    if not np.isfinite(wave).all():
        raise DriveError("the waveform holds NaN or inf samples: replace them (numpy.nan_to_num) first")
    peak = float(np.abs(wave).max()) if wave.size else 0.0
    if peak > _audio.PCM_PEAK_LIMIT:
        raise DriveError(
            f"the waveform's samples reach {peak:.6g}: float audio must be in [-1, 1], and this looks like integer "
            "PCM stored as float; divide by 32768 (16-bit) first"
        )
    with _adjustments_as_notes(notes):
        wave = _audio.condition_levels(wave, "the waveform")  # DC removed, beyond full scale scaled, as for files
    wave = _audio.resample(wave, int(sr), _audio.SAMPLE_RATE)
    return wave, notes + _rate_notes(int(sr))


def landmarks_from_audio(
    model: torch.nn.Module,
    audio,
    kind: Optional[str] = None,
    au45=None,
    sr: int = _audio.SAMPLE_RATE,
    transcript: Optional[str] = None,
) -> DrivenLandmarks:
    """Landmarks for any audio in one call: load -> features of the model's kind -> landmarks.

    Args:
        model: a trained landmark model (:func:`talkface_lite.models.baselines.build_landmark_model`
            trained by :func:`~talkface_lite.training.landmark_models.train_landmark_model`,
            ``TalkingHead.landmark_model()``).
        audio: an audio or video file (any container, rate and channel count :func:`load_driving_audio`
            reads), or an ``(N,)`` waveform at ``sr`` (float in [-1, 1], or integer PCM).
        kind: the feature kind the model was trained on (one of :data:`talkface_lite.audio.KINDS`); None
            takes the kind the model records (``model.feature_kind``, set by training and by runs), else
            infers it from the model's input size when only one kind has that size.
        au45: ``(T,)`` (or ``(T, 1)``) eye state per frame on the 0-5 scale, or None for open eyes.
        sr: sample rate of a waveform ``audio``, whole Hz in [4000, 192000] (not given with a file). A
            waveform's DC offset and samples beyond full scale are corrected as a file's are, with notes.
        transcript: the words said, for ``kind="phones"``: their phones are aligned instead of recognised
            (:func:`talkface_lite.phones.recognise_phones`).

    Returns:
        :class:`DrivenLandmarks` with ``T = floor(seconds * 25)`` frames.

    Raises:
        DriveError: an unknown kind, a kind other than the one the model records or of another size, a kind
            that cannot be inferred, an unreadable file, a waveform that is not real mono samples, a bad
            ``sr``, audio shorter than one frame (40 ms), silence for ``mel_cmvn``
            (:func:`check_driving_wave`), ``au45`` of the wrong length, not numeric, not finite or off the
            0-5 scale, or a transcript for a kind other than phones; all before features are computed.
            A transcript that cannot be aligned is refused when the features are computed.

    Explained in notebooks/05_landmark_transformer.ipynb.
    """
    kind = _model_kind(model, kind)
    if transcript is not None and kind != "phones":
        raise DriveError(f"a transcript is only used by phones features, and this model reads {kind!r}: leave it out")
    if isinstance(audio, (str, os.PathLike)):
        if sr != _audio.SAMPLE_RATE:
            raise DriveError("sr= is the rate of a waveform; a file's own rate is read from the file: leave sr out")
        wave, notes = load_driving_audio(audio, kind)
    else:
        wave, notes = _waveform(audio, sr)
        check_driving_wave(wave, notes, kind, "the waveform")
    return _landmarks_of_wave(model, wave, notes, kind, au45, transcript)


def _landmarks_of_wave(model, wave: np.ndarray, notes: List[str], kind: str, au45, transcript) -> DrivenLandmarks:
    """:func:`landmarks_from_audio` once the 16 kHz waveform is loaded and checked."""
    n = _audio.n_frames_for(len(wave))
    if au45 is not None:
        try:
            au45 = np.asarray(au45, np.float32)
        except (TypeError, ValueError):
            raise DriveError(
                f"au45 must be numbers, one per frame on the 0-5 scale, got {type(au45).__name__}"
                " (drive() generates blinks with blinks='generate')"
            ) from None
        if au45.shape == (n, 1):
            au45 = au45[:, 0]
        if au45.shape != (n,):
            raise DriveError(f"au45 must have one value per frame, shape ({n},) for this audio; got {au45.shape}")
        if not np.isfinite(au45).all() or au45.min() < 0 or au45.max() > 5:
            raise DriveError("au45 must be finite values on the 0-5 scale (0 open, 5 closed); fix or clip the array")
    try:
        with _adjustments_as_notes(notes):
            if transcript is not None:
                from .phones import phone_features

                feats = _audio.frame_windows(phone_features(wave, transcript), n)  # (T, 16, 41)
            else:
                feats = _audio.audio_windows(wave, kind=kind, n_frames=n)  # (T, 16, D)
    except ValueError as exc:
        raise DriveError(f"cannot compute {kind} features: {exc}") from None
    from .training.landmark_models import predict_landmarks

    return DrivenLandmarks(predict_landmarks(model, feats, au45), feats.astype(np.float32), wave, kind, notes)


def pose_path(poses: torch.Tensor, n_frames: int, kind: str = "train", fps: float = 25.0) -> torch.Tensor:
    """Camera path ``(n_frames, 4, 4)`` from training poses ``(n, 4, 4)`` (see the module docstring)."""
    if kind not in POSES:
        raise DriveError(f"poses must be one of {POSES}, got {kind!r}")
    poses = torch.as_tensor(poses, dtype=torch.float32)
    n = poses.shape[0]
    if kind == "still":
        t = poses[:, :3, 3]
        return poses[int((t - t.mean(0)).norm(dim=-1).argmin())].expand(n_frames, 4, 4).clone()
    if kind == "smooth":
        poses = _smooth_poses(poses, sigma=fps / 2)
    period = max(1, 2 * n - 2)
    k = np.arange(n_frames) % period
    idx = np.where(k < n, k, period - k)  # 0 .. n-1, n-2 .. 1, 0 .. (mirrored)
    return poses[torch.as_tensor(idx)]


def _smooth_poses(poses: torch.Tensor, sigma: float) -> torch.Tensor:
    from scipy.ndimage import gaussian_filter1d

    p = gaussian_filter1d(poses.numpy().astype(np.float64), sigma, axis=0, mode="nearest")
    u, _, vt = np.linalg.svd(p[:, :3, :3])
    p[:, :3, :3] = u @ vt  # back to rotations
    return torch.from_numpy(p.astype(np.float32))


BLINK_MODES = ("generate", "none")


def check_seed(seed) -> int:
    """Refuse a seed that is not a non-negative integer (bools too), before any work."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DriveError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def check_blinks(blinks: Union[str, os.PathLike, np.ndarray]) -> Union[str, np.ndarray]:
    """``"generate"``, ``"none"`` or the AU45 values ``(T,)`` of an array or ``.npy`` file, checked before any work.

    Raises:
        DriveError: an unknown word, a missing or non-``.npy`` file, a pickled or non-numeric array, an array that
            is not one value per frame (``(T,)`` or ``(T, 1)``), NaN/inf values, or values off the 0-5 scale.
    """
    if isinstance(blinks, str) and blinks in BLINK_MODES:
        return blinks
    if isinstance(blinks, np.ndarray):
        arr, name = blinks, "the AU45 array"
    else:
        path = Path(blinks)
        if path.suffix.lower() != ".npy" or not path.is_file():
            what = "does not exist" if path.suffix.lower() == ".npy" else "is neither of those nor a .npy file"
            raise DriveError(
                f"--blinks {blinks} {what}: use generate, none, or the path of an AU45 .npy file (one "
                "value per frame, 0-5 scale)"
            )
        try:
            arr = np.load(path, allow_pickle=False)
        except ValueError:
            raise DriveError(f"{path} is not a plain numeric .npy array (save AU45 with numpy.save)") from None
        name = str(path)
    if not np.issubdtype(arr.dtype, np.number):
        raise DriveError(f"{name} holds {arr.dtype} values, not numbers: give AU45 on the 0-5 scale")
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise DriveError(f"{name} has shape {arr.shape}: give one AU45 value per frame, shape (T,)")
    if not np.isfinite(arr).all():
        raise DriveError(f"{name} holds NaN or inf values: give values on the 0-5 scale")
    if arr.size and (arr.min() < 0 or arr.max() > 5):
        raise DriveError(
            f"{name} holds values from {arr.min():.3g} to {arr.max():.3g}, off the AU45 0-5 scale (0 open, "
            "5 closed): rescale or clip it"
        )
    return arr.astype(np.float32)


def driving_au45(
    head, n_frames: int, blinks: Union[str, os.PathLike, np.ndarray] = "generate", seed: int = 0
) -> np.ndarray:
    """AU45 ``(n_frames,)``: ``"generate"`` (the speaker's renewal generator), ``"none"``, or an array / ``.npy``."""
    from .models.blink import BlinkGenerator, BlinkStatistics

    if isinstance(blinks, str) and blinks == "generate":
        ds = head.dataset
        stats = BlinkStatistics.from_au45(ds.au45[ds.split("train")].numpy(), fps=ds.fps)
        return BlinkGenerator(stats).generate(n_frames, np.random.default_rng(seed)).astype(np.float32)
    if isinstance(blinks, str) and blinks == "none":
        return np.zeros(n_frames, np.float32)
    arr = check_blinks(blinks)
    if len(arr) != n_frames:
        raise DriveError(
            f"the AU45 array has {len(arr)} values but the audio makes {n_frames} frames at 25 fps: "
            "give one value per frame"
        )
    return arr


def check_output(out: Union[str, os.PathLike], overwrite: bool = False) -> Path:
    """Refuse an mp4 path that exists (unless ``overwrite``) or whose folder cannot be written, before any work."""
    out = Path(out)
    if out.suffix.lower() != ".mp4":
        raise DriveError(f"output {out} must end in .mp4")
    if out.exists() and not overwrite:
        raise DriveError(f"{out} already exists: choose another name or pass --overwrite")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise DriveError(f"the folder {parent} does not exist: create it first")
    if not os.access(parent, os.W_OK):
        raise DriveError(f"the folder {parent} cannot be written: choose another output path")
    return out


def drive(
    run,
    audio: Union[str, os.PathLike],
    poses: str = "train",
    blinks="generate",
    seed: int = 0,
    out: Optional[Union[str, os.PathLike]] = None,
    overwrite: bool = False,
    progress: bool = True,
    keep_frames: Optional[bool] = None,
    transcript: Optional[str] = None,
) -> DriveResult:
    """Render a trained head speaking ``audio``.

    Args:
        run: a :class:`~talkface_lite.training.TalkingHead` or a run folder.
        audio: any audio or video file with an audio stream.
        poses: ``"train" | "smooth" | "still"``.
        blinks: ``"generate" | "none"``, or an AU45 array / ``.npy`` path with one value per frame.
        seed: seeds the blink generator (a non-negative integer).
        out: write an H.264 mp4 with the audio here (atomically: a temp file renamed at the end).
        overwrite: replace an existing ``out``.
        keep_frames: return the frames (default: only when no ``out`` is given; long audio should stream).
        transcript: the words said, for a run on phones features (see :func:`landmarks_from_audio`).

    Returns:
        :class:`DriveResult`.

    Raises:
        DriveError: bad audio, output path, blinks or seed; a run whose audio features cannot be computed from
            audio; a transcript for a run that does not read phones.

    Explained in notebooks/09_drive_with_new_audio.ipynb.
    """
    from .models.field import neighbour_windows
    from .progress import tqdm
    from .training.talking_head import load_run

    if poses not in POSES:
        raise DriveError(f"poses must be one of {POSES}, got {poses!r}")
    check_seed(seed)
    blinks = check_blinks(blinks)
    out = check_output(out, overwrite) if out is not None else None
    head = run if hasattr(run, "render_frame") else load_run(run)
    kind = head.config.audio_kind
    if kind not in _audio.KINDS:
        raise DriveError(
            f"this run was trained on {kind!r} features, which are imported, not computed from "
            f"audio here (the package computes {list(_audio.KINDS)}): train a run with "
            "--audio-kind mel to drive it with any audio"
        )
    if transcript is not None and kind != "phones":
        raise DriveError(f"a transcript is only used by phones runs, and this run reads {kind!r}: leave it out")
    wave, notes = load_driving_audio(audio, kind)
    n = _audio.n_frames_for(len(wave))
    au45 = driving_au45(head, n, blinks, seed)
    model = head.landmark_model()
    _model_kind(model, kind)  # the run's model reads the run's kind
    driven = _landmarks_of_wave(model, wave, notes, kind, au45, transcript)
    feats = torch.from_numpy(driven.feats)  # (T, 16, D)
    if feats.shape[1:] != head.features.shape[1:]:
        raise DriveError(
            f"features of shape {tuple(feats.shape[1:])} do not match the run's {tuple(head.features.shape[1:])}"
        )
    landmarks = driven.landmarks  # (T, 68, 3)
    cams = pose_path(head.dataset.poses[head.dataset.split("train")], n, poses, head.dataset.fps)
    keep = (out is None) if keep_frames is None else keep_frames
    frames = np.empty((n, head.dataset.height, head.dataset.width, 3), np.uint8) if keep else None
    writer, tmp_dir = None, None
    try:
        if out is not None:
            import imageio_ffmpeg

            tmp_dir = tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent)
            wav = Path(tmp_dir) / "audio.wav"
            _audio.save_wav(wav, wave)
            tmp_mp4 = Path(tmp_dir) / out.name
            writer = imageio_ffmpeg.write_frames(
                str(tmp_mp4),
                (head.dataset.width, head.dataset.height),
                fps=head.dataset.fps,
                codec="libx264",
                audio_path=str(wav),
                audio_codec="aac",
                macro_block_size=1,
                ffmpeg_log_level="error",
                output_params=["-shortest", "-pix_fmt", "yuv420p"],
            )
            writer.send(None)
        seq = head.config.field.audio_seq_len
        for t in tqdm(range(n), desc="render", disable=not progress):
            img = head.render_frame(
                None,
                pose=cams[t],
                audio_windows=neighbour_windows(feats, t, seq),
                landmarks=torch.from_numpy(landmarks[t]),
                au45=float(au45[t]),
            )
            u8 = (img.numpy() * 255 + 0.5).astype(np.uint8)
            if frames is not None:
                frames[t] = u8
            if writer is not None:
                writer.send(np.ascontiguousarray(u8))
        if writer is not None:
            writer.close()
            writer = None
            os.replace(tmp_mp4, out)
    finally:
        if writer is not None:
            writer.close()
        if tmp_dir is not None:
            import shutil

            shutil.rmtree(tmp_dir, ignore_errors=True)
    return DriveResult(frames, landmarks, au45, cams.numpy(), notes, out)


__all__ = [
    "BLINK_MODES",
    "DriveError",
    "DriveResult",
    "DrivenLandmarks",
    "POSES",
    "check_blinks",
    "check_driving_wave",
    "check_output",
    "check_seed",
    "drive",
    "driving_au45",
    "landmarks_from_audio",
    "load_driving_audio",
    "model_feature_dim",
    "pose_path",
    "probe_audio",
]
