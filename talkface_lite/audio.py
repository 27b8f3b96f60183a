"""Audio for talking heads: 16 kHz mono loading, 50 Hz features, per-frame windows, smoothing.

The renderer and the landmark transformer are driven by one audio window per
25 fps video frame, in the layout ER-NeRF inherited from AD-NeRF's DeepSpeech
features: 16 consecutive feature steps at 50 Hz (320 ms) per frame, i.e. an
array ``(n_frames, 16, D)``.

Decisions (the numbers every feature file in this package follows):

* **Sample rate** :data:`SAMPLE_RATE` = 16 kHz mono float32 in [-1, 1].
  ``.wav`` files are read with SciPy; any other container (mp4, mov, mkv,
  mp3, ...) is decoded by the ffmpeg binary that ships with ``imageio-ffmpeg``.
* **Feature rate** 50 Hz: hop 320 samples (20 ms), analysis window 400 samples
  (25 ms, Hann) zero-padded to a 512-point FFT; frames are *centred*: step
  ``k`` is centred on sample ``320 k`` (reflect padding at the ends), so a
  clip of ``N`` samples gives ``1 + N // 320`` steps.
* **log-mel** (``kind="mel"``): 80 triangular HTK-mel bands over 0–8 kHz on the
  power spectrum, natural log of ``max(power, 1e-10)``; D = 80.
* **per-clip normalised log-mel** (``kind="mel_cmvn"``): that log-mel with each band standardised
  by its mean and standard deviation over the clip (cepstral mean and variance normalisation, CMVN,
  applied to log-mel); D = 80. Removing each recording's average spectrum removes much of what is
  the voice and the microphone rather than the phone: on held-out synthetic voices it brings the
  mouth LMD much closer to the same-voice figure than plain log-mel (notebook 05's table). The
  statistics need a clip of several seconds, with speech in it: the level is divided out too, so a
  clip of silence or faint noise reads like speech (driving refuses silence for this kind).
* **MFCC** (``kind="mfcc"``): orthonormal DCT-II of that log-mel, first 13
  coefficients (c0 included); D = 13.
* **phones** (``kind="phones"``): phones recognised offline by pocketsphinx's en-us model, as soft
  one-hot vectors over 39 ARPAbet phones, silence and noise at the same 50 Hz steps
  (:mod:`talkface_lite.phones`); D = 41. Unlike log-mel they do not depend on the voice.
* **Windows** (:func:`frame_windows`): video frame ``i`` (time ``i / 25`` s)
  gets the 50 Hz steps ``2i - 8 … 2i + 7``; their mean time is ``i/25 - 10 ms``,
  so the window is centred on the frame to within half a step. Steps outside
  the clip repeat the first/last step (edge padding), like ER-NeRF's loader.

Pre-extracted features from other tools are imported by
:func:`load_feature_array` in their usual shapes: DeepSpeech ``aud_ds.npy``
``(T, 16, 29)``, HuBERT/wav2vec ``(T, 1024)`` at 50 Hz or ``(T, 2, 1024)``
(two 50 Hz steps per video frame, ER-NeRF's ``aud_hu.npy``).

Explained in notebooks/04_audio_features.ipynb.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional, Tuple, Union

import numpy as np

from .checks import require_finite

if TYPE_CHECKING:  # annotations only: importing torch is deferred to the functions that need it
    import torch

SAMPLE_RATE = 16000
FPS = 25.0
FEATURE_RATE = 50.0
HOP = 320
WIN = 400
N_FFT = 512
N_MELS = 80
N_MFCC = 13
WINDOW = 16

#: feature kind -> its per-step dimension D (what training and driving must agree on)
FEATURE_DIMS = {"mel": N_MELS, "mel_cmvn": N_MELS, "mfcc": N_MFCC, "phones": 41, "deepspeech": 29, "hubert": 1024}
#: the kinds this package computes from audio (the others are imported with load_feature_array)
KINDS = ("mel", "mel_cmvn", "mfcc", "phones")

ArrayLike = Union[np.ndarray, "torch.Tensor"]


class AudioAdjustmentWarning(UserWarning):
    """An input was adjusted rather than refused (scaled, converted, trimmed, padded or re-timed); the message
    says exactly what was done, so nothing changes silently."""


def _note(message: str) -> None:
    warnings.warn(message, AudioAdjustmentWarning, stacklevel=3)


DC_OFFSET_LIMIT = 0.05  # mean sample level beyond which a file has a DC offset (speech averages to ~0)
PCM_PEAK_LIMIT = 1.5  # float samples beyond this are not a resampling overshoot but integer PCM passed as float


class NoAudioStreamError(ValueError):
    """The file decodes but carries no audio stream, or only silence (nothing to drive a talking head with)."""


SILENT_PEAK = 1e-3  # peak below -60 dBFS: a muted export or a dead microphone, not quiet speech


def require_speech(audio: np.ndarray, name: str, fix: str) -> None:
    """Refuse audio that is empty or silent (peak below :data:`SILENT_PEAK` around its median, so a constant
    offset with nothing on it is silent too): every feature window would be equal.

    Raises:
        NoAudioStreamError: naming ``name``, the peak level and ``fix``.
    """
    peak = float(np.abs(audio - np.median(audio)).max()) if len(audio) else 0.0
    if peak < SILENT_PEAK:
        level = "-inf" if peak == 0 else f"{20 * np.log10(peak):.0f}"
        raise NoAudioStreamError(
            f"the audio of {name} is silent (peak {level} dBFS, {len(audio) / SAMPLE_RATE:.2f} s): "
            f"every feature window would be the same, so nothing could drive the mouth. {fix}"
        )


@dataclasses.dataclass
class AudioFit:
    """How :func:`fit_to_frames` made audio the length of the video."""

    n_frames: int
    input_seconds: float
    padded_seconds: float = 0.0  # silence appended after the audio ended
    trimmed_seconds: float = 0.0  # audio cut after the last frame
    frames_without_audio: int = 0  # frames that start after the audio ended

    @property
    def coverage(self) -> float:
        """Share of frames with speech under them."""
        return 1.0 - self.frames_without_audio / max(self.n_frames, 1)

    def notes(self, name: str = "the audio") -> List[str]:
        """Sentences for reports; empty when less than one frame (40 ms) changed."""
        video_s = self.n_frames / FPS
        if self.padded_seconds >= 1 / FPS:
            return [
                f"{name} ({self.input_seconds:.2f} s) ends {self.padded_seconds:.2f} s before the video "
                f"({video_s:.2f} s): the last {self.frames_without_audio} frames have no speech; padded with "
                "silence (their mouths are trained as closed)"
            ]
        if self.trimmed_seconds >= 1 / FPS:
            return [
                f"{name} ({self.input_seconds:.2f} s) is {self.trimmed_seconds:.2f} s longer than the video "
                f"({video_s:.2f} s): trimmed to the video's length"
            ]
        return []


def frames_without_audio(n_samples: int, n_frames: int, sr: int = SAMPLE_RATE, fps: float = FPS) -> int:
    """How many of ``n_frames`` start at or after the end of ``n_samples`` of audio."""
    return int(n_frames - min(n_frames, int(np.ceil(n_samples * fps / sr - 1e-9))))


def fit_to_frames(
    audio: np.ndarray, n_frames: int, sr: int = SAMPLE_RATE, fps: float = FPS
) -> Tuple[np.ndarray, AudioFit]:
    """Pad with silence or trim ``(N,)`` audio to exactly ``n_frames / fps`` seconds.

    Returns:
        ``(n_frames * sr / fps,)`` float32 audio and the :class:`AudioFit` saying what changed
        (a frame counts as without audio when it starts at or after the audio's end).
    """
    target = int(round(n_frames * sr / fps))
    fit = AudioFit(n_frames=int(n_frames), input_seconds=round(len(audio) / sr, 3))
    if len(audio) < target:
        fit.padded_seconds = round((target - len(audio)) / sr, 3)
        fit.frames_without_audio = frames_without_audio(len(audio), n_frames, sr, fps)
        audio = np.concatenate([audio, np.zeros(target - len(audio), np.float32)])
    elif len(audio) > target:
        fit.trimmed_seconds = round((len(audio) - target) / sr, 3)
        audio = audio[:target]
    return np.ascontiguousarray(audio, np.float32), fit


def ffmpeg_exe() -> str:
    """Path of the ffmpeg executable shipped in ``imageio-ffmpeg`` (the package's one lookup of it)."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _to_float_mono(data: np.ndarray) -> np.ndarray:
    """Integer or float PCM ``(N,)`` or ``(N, C)`` -> float32 mono in [-1, 1]."""
    if data.dtype == np.uint8:
        data = (data.astype(np.float32) - 128.0) / 128.0
    elif np.issubdtype(data.dtype, np.integer):
        data = data.astype(np.float32) / float(np.iinfo(data.dtype).max + 1)
    else:
        data = data.astype(np.float32)
    if data.ndim == 2:
        data = data.mean(axis=1)  # (N, C) -> (N,)
    return np.ascontiguousarray(data, dtype=np.float32)


def resample(audio: np.ndarray, sr_in: int, sr_out: int = SAMPLE_RATE) -> np.ndarray:
    """Polyphase resampling ``(N,) -> (N * sr_out / sr_in,)`` (no-op when rates match)."""
    if int(sr_in) == int(sr_out):
        return audio.astype(np.float32, copy=False)
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(int(sr_in), int(sr_out))
    return resample_poly(audio, int(sr_out) // g, int(sr_in) // g).astype(np.float32)


def _decode_ffmpeg(path: Path, sr: int, align_start: bool = False) -> np.ndarray:
    # align_start: a stream that starts after the file's time 0 (a late audio track in a video) is preceded by
    # silence, so sample i plays at i / sr seconds, as a player plays it beside the video
    align = ["-af", "aresample=async=1:first_pts=0"] if align_start else []
    cmd = [
        ffmpeg_exe(),
        "-nostdin",
        "-v",
        "error",
        "-i",
        str(path),
        "-map",
        "0:a:0",
        "-vn",
        "-ac",
        "1",
        "-ar",
        str(sr),
        *align,
        "-f",
        "f32le",
        "-",
    ]
    proc = subprocess.run(cmd, capture_output=True)
    err = proc.stderr.decode("utf-8", "replace").strip()
    if proc.returncode != 0:
        if "matches no streams" in err or "does not contain any stream" in err:
            raise NoAudioStreamError(
                f"{path} has no audio stream: a talking head needs the speech that drives it. "
                "Mux the speech into the video (ffmpeg -i video.mp4 -i speech.wav -c:v copy -map 0:v -map 1:a out.mp4) "
                "or pass a separate wav."
            )
        raise ValueError(
            f"ffmpeg could not decode audio from {path}: {err.splitlines()[-1] if err else 'unknown error'}."
            " Is it a media file? Try playing it, or re-encode it with ffmpeg."
        )
    audio = np.frombuffer(proc.stdout, dtype=np.float32).copy()
    if audio.size == 0:
        raise NoAudioStreamError(f"{path}: the audio stream decoded to 0 samples (empty or corrupt audio track).")
    return audio


def load_audio(path: Union[str, os.PathLike], sr: int = SAMPLE_RATE, align_start: bool = False) -> np.ndarray:
    """Load a wav file or the first audio stream of any media file as mono float32.

    Args:
        path: ``.wav`` (read by SciPy) or any container ffmpeg reads (mp4, mkv, mp3, ...).
        sr: target sample rate (16 kHz everywhere in this package).
        align_start: for a media file, keep the audio stream's start time (silence before a stream that
            starts late), so the samples line up with the video's frames.

    Returns:
        ``(N,)`` float32 samples in [-1, 1] at ``sr`` (a float file that goes beyond full scale is scaled down,
        with an :class:`AudioAdjustmentWarning` saying by how much).

    Raises:
        FileNotFoundError: the file does not exist.
        NoAudioStreamError: the file has no audio stream.
        ValueError: the file cannot be decoded.

    Explained in notebooks/00_setup_and_tour.ipynb.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"audio file {path} does not exist (check the path; relative paths are from {Path.cwd()})"
        )
    if path.suffix.lower() == ".wav":
        from scipy.io import wavfile

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", wavfile.WavFileWarning)
                rate, data = wavfile.read(str(path))
            audio = resample(_to_float_mono(data), rate, sr)
        except ValueError:
            audio = _decode_ffmpeg(path, sr)  # compressed or unusual wav: let ffmpeg decode it
    else:
        audio = _decode_ffmpeg(path, sr, align_start)
    require_finite(audio, str(path), "the file holds NaN or inf samples; re-export it")
    return condition_levels(audio, str(path))


def condition_levels(audio: np.ndarray, name: str) -> np.ndarray:
    """Remove a DC offset (mean beyond :data:`DC_OFFSET_LIMIT`) and scale samples beyond full scale back to
    [-1, 1], each with an :class:`AudioAdjustmentWarning` naming ``name``; ``(N,)`` float32 in, out."""
    offset = float(audio.mean()) if audio.size else 0.0
    if abs(offset) > DC_OFFSET_LIMIT:  # a broken recording chain; speech itself averages to zero
        audio = audio - np.float32(offset)
        _note(f"{name}: a constant offset of {offset:+.3g} (DC) under the signal; removed")
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    if peak > 1.0:  # float files may exceed full scale; the package's contract is [-1, 1]
        audio = audio / peak
        _note(f"{name}: samples reach {peak:.3g}, beyond [-1, 1]; scaled by 1/{peak:.3g} to full scale")
    return audio


def save_wav(path: Union[str, os.PathLike], audio: np.ndarray, sr: int = SAMPLE_RATE) -> Path:
    """Write ``(N,)`` float audio as 16-bit PCM wav, atomically (temp name, then rename)."""
    from scipy.io import wavfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pcm = np.clip(np.round(np.asarray(audio, dtype=np.float64) * 32768.0), -32768, 32767).astype(np.int16)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    wavfile.write(str(tmp), int(sr), pcm)
    os.replace(tmp, path)
    return path


def mel_filterbank(
    n_mels: int = N_MELS, n_fft: int = N_FFT, sr: int = SAMPLE_RATE, fmin: float = 0.0, fmax: Optional[float] = None
) -> np.ndarray:
    """Triangular HTK-mel filters ``(n_mels, n_fft // 2 + 1)``, peak 1 (not area-normalised).

    Note:
        mel(f) = 2595 log10(1 + f / 700). Band ``m`` rises linearly from edge
        ``m`` to edge ``m + 1`` and falls to edge ``m + 2`` of ``n_mels + 2``
        edges equally spaced in mel between ``fmin`` and ``fmax``.
    """
    fmax = sr / 2.0 if fmax is None else float(fmax)
    hz = np.linspace(0.0, sr / 2.0, n_fft // 2 + 1)
    mel_edges = np.linspace(2595 * np.log10(1 + fmin / 700), 2595 * np.log10(1 + fmax / 700), n_mels + 2)
    edges = 700.0 * (10 ** (mel_edges / 2595.0) - 1.0)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rise = (hz[None] - lo) / np.maximum(mid - lo, 1e-9)
    fall = (hi - hz[None]) / np.maximum(hi - mid, 1e-9)
    return np.clip(np.minimum(rise, fall), 0.0, None).astype(np.float32)


def _frames(audio: np.ndarray) -> np.ndarray:
    """Centred, reflect-padded analysis frames ``(1 + N // HOP, WIN)``."""
    pad = WIN // 2
    mode = "reflect" if audio.size > pad else "constant"
    x = np.pad(audio, (pad, pad), mode=mode)
    n = 1 + audio.size // HOP
    idx = np.arange(n)[:, None] * HOP + np.arange(WIN)[None]  # (T50, WIN)
    return x[idx]


def check_kinds(kinds) -> None:
    """Refuse, before any work, a feature kind this package cannot compute.

    Raises:
        ValueError: naming the unknown kind and the ones there are.
    """
    for kind in kinds:
        if kind not in KINDS:
            raise ValueError(
                f"unknown feature kind {kind!r}: use one of {KINDS} (DeepSpeech/HuBERT arrays are imported "
                "with load_feature_array, not computed here)"
            )


def parse_kinds(text: str, check: bool = True) -> tuple:
    """Feature kinds from a comma-separated command-line value (``"mel,phones"``).

    Args:
        text: the value.
        check: also refuse unknown kinds (:func:`check_kinds`); ``prepare`` checks them after the video.

    Raises:
        ValueError: an empty list or entry (``""``, ``"mel,"``), or (``check``) an unknown kind.
    """
    kinds = tuple(k.strip() for k in str(text).split(","))
    if not any(kinds) or not all(kinds):
        raise ValueError(
            f"--features {text!r} has an empty entry: give comma-separated kinds without gaps, e.g. mel,phones "
            f"(kinds: {','.join(KINDS)})"
        )
    if check:
        check_kinds(kinds)
    return kinds


def compute_features(audio: np.ndarray, kind: str = "mel", sr: int = SAMPLE_RATE) -> np.ndarray:
    """50 Hz log-mel, MFCC or phone features of a mono clip.

    Args:
        audio: ``(N,)`` float samples in [-1, 1] (integer PCM is converted, with a note; float samples beyond
            ±1.5 are refused: they are integer PCM stored as float, which would shift log-mel by ~+21).
        kind: ``"mel"`` (D = 80), ``"mel_cmvn"`` (D = 80), ``"mfcc"`` (D = 13) or ``"phones"`` (D = 41);
            see the module docstring.
        sr: sample rate of ``audio``; resampled to 16 kHz when different.

    Returns:
        ``(1 + N16 // 320, D)`` float32, one row per 20 ms step, step ``k`` centred
        on time ``k * 20 ms``.

    Explained in notebooks/04_audio_features.ipynb.
    """
    check_kinds([kind])
    audio = np.asarray(audio)
    if audio.ndim != 1:
        raise ValueError(f"audio must be mono (N,), got shape {audio.shape}; average the channels first")
    if np.issubdtype(audio.dtype, np.integer):
        _note(
            f"integer {audio.dtype} samples converted to float in [-1, 1] (divided by "
            f"{np.iinfo(audio.dtype).max + 1}); pass float samples to avoid this note"
        )
        audio = _to_float_mono(audio)
    require_finite(
        audio,
        "audio samples",
        "decode the file again, or replace the bad samples (numpy.nan_to_num) before computing features",
    )
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    if peak > PCM_PEAK_LIMIT:
        raise ValueError(
            f"audio samples reach {peak:.6g}: float audio must be in [-1, 1], and this looks like "
            "integer PCM stored as float; divide by 32768 (16-bit) first, or load the file with "
            "talkface_lite.audio.load_audio"
        )
    audio = resample(audio.astype(np.float32), sr, SAMPLE_RATE)
    if kind == "phones":
        from .phones import phone_features

        return phone_features(audio)
    window = np.zeros(N_FFT, np.float32)
    window[:WIN] = np.hanning(WIN + 1)[:-1]  # periodic Hann, zero-padded to the FFT size
    fb = mel_filterbank()
    frames = _frames(audio)  # (T50, WIN)
    out = np.empty((frames.shape[0], N_MELS), np.float32)
    for s in range(0, frames.shape[0], 4096):  # chunks bound the memory of long clips
        chunk = np.zeros((min(4096, frames.shape[0] - s), N_FFT), np.float32)
        chunk[:, :WIN] = frames[s : s + 4096]
        power = np.abs(np.fft.rfft(chunk * window, axis=1)) ** 2  # (chunk, N_FFT//2+1)
        out[s : s + chunk.shape[0]] = np.log(np.maximum(power @ fb.T, 1e-10))  # (chunk, 80)
    if kind == "mel_cmvn":
        std = out.std(0)  # per band, over the clip; a band that never moves (silence) reads 0
        out = np.where(std < 1e-3, 0.0, (out - out.mean(0)) / np.maximum(std, 1e-3)).astype(np.float32)
    if kind == "mfcc":
        from scipy.fft import dct

        out = dct(out, type=2, norm="ortho", axis=1)[:, :N_MFCC].astype(np.float32)
    return out


def n_frames_for(n_samples: int, sr: int = SAMPLE_RATE, fps: float = FPS) -> int:
    """Number of whole video frames a clip of ``n_samples`` covers."""
    return int(np.floor(n_samples / sr * fps + 1e-6))


def frame_windows(
    feats: np.ndarray, n_frames: Optional[int] = None, window: int = WINDOW, steps_per_frame: int = 2
) -> np.ndarray:
    """Cut 50 Hz features into one window per 25 fps video frame.

    Args:
        feats: ``(T50, D)`` features at 50 Hz.
        n_frames: video frames to produce (default ``ceil(T50 / 2)``).
        window: steps per window (16 = 320 ms, the DeepSpeech layout).
        steps_per_frame: 50 Hz steps per video frame (2 at 25 fps).

    Returns:
        ``(n_frames, window, D)``: row ``i`` holds steps ``2i - window//2 … 2i + window//2 - 1``,
        edge-padded outside the clip.

    Explained in notebooks/04_audio_features.ipynb.
    """
    feats = np.asarray(feats)
    if feats.ndim != 2:
        raise ValueError(f"frame_windows expects (T50, D) features, got shape {feats.shape}")
    if feats.shape[0] == 0:
        raise ValueError("frame_windows got 0 feature steps: the audio is empty")
    if n_frames is None:
        n_frames = -(-feats.shape[0] // steps_per_frame)
    centre = np.arange(n_frames)[:, None] * steps_per_frame  # (n_frames, 1)
    idx = centre + np.arange(-(window // 2), window - window // 2)[None]  # (n_frames, window)
    return feats[np.clip(idx, 0, feats.shape[0] - 1)]  # (n_frames, window, D)


def audio_windows(
    audio: np.ndarray, kind: str = "mel", n_frames: Optional[int] = None, sr: int = SAMPLE_RATE
) -> np.ndarray:
    """``compute_features`` then ``frame_windows``: ``(N,)`` audio -> ``(n_frames, 16, D)``."""
    feats = compute_features(audio, kind=kind, sr=sr)
    if n_frames is None:
        n_frames = max(1, n_frames_for(int(round(len(audio) * SAMPLE_RATE / sr))))
    return frame_windows(feats, n_frames)


def smoothing_weights(radius: int, sigma: Optional[float] = None) -> np.ndarray:
    """Normalised Gaussian taps ``(2 * radius + 1,)``; ``sigma`` defaults to ``radius / 2``."""
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    if radius == 0:
        return np.ones(1, np.float64)
    sigma = radius / 2.0 if sigma is None else float(sigma)
    k = np.arange(-radius, radius + 1, dtype=np.float64)
    w = np.exp(-0.5 * (k / sigma) ** 2)
    return w / w.sum()


def smooth_features(x: ArrayLike, radius: int = 4, sigma: Optional[float] = None) -> ArrayLike:
    """Temporal smoothing over video frames (axis 0) with a normalised Gaussian.

    A fixed-weight version of the learned window of AD-NeRF/ER-NeRF's
    AudioAttNet (8 neighbours): it removes frame-to-frame jitter of the driving
    signal. Frames beyond the ends are edge-replicated, so a constant sequence
    is returned unchanged.

    Args:
        x: ``(T, ...)`` windows ``(T, 16, D)`` or codes ``(T, C)``; numpy or torch.
        radius: neighbours on each side (0 = identity).
        sigma: Gaussian width in frames (default ``radius / 2``).

    Returns:
        Same type, shape and dtype as ``x``.

    Explained in notebooks/04_audio_features.ipynb.
    """
    w = smoothing_weights(int(radius), sigma)
    if len(w) == 1:
        return x
    r = len(w) // 2
    try:
        import torch

        is_torch = isinstance(x, torch.Tensor)
    except ImportError:  # pragma: no cover
        is_torch = False
    if is_torch:
        idx = torch.clamp(
            torch.arange(x.shape[0], device=x.device)[:, None] + torch.arange(-r, r + 1, device=x.device)[None],
            0,
            x.shape[0] - 1,
        )  # (T, 2r+1)
        taps = torch.as_tensor(w, dtype=x.dtype, device=x.device)
        return torch.tensordot(x[idx].movedim(1, -1), taps, dims=([x.dim()], [0]))  # (T, ...)
    arr = np.asarray(x)
    idx = np.clip(np.arange(arr.shape[0])[:, None] + np.arange(-r, r + 1)[None], 0, arr.shape[0] - 1)
    out = np.tensordot(w, arr[idx], axes=([0], [1]))  # (T, ...)
    return out.astype(arr.dtype, copy=False)


def describe_dim(d: int) -> str:
    """Name the feature kind a per-step dimension usually means (for error messages)."""
    names = [k for k, v in FEATURE_DIMS.items() if v == d]
    return f"D={d} ({'/'.join(names) if names else 'unknown kind'})"


def _missing_feature_hint(path: Path) -> str:
    siblings = sorted(p.name for p in path.parent.glob("aud*.npy")) if path.parent.is_dir() else []
    hint = f" Feature files next to it: {', '.join(siblings)}." if siblings else ""
    return (
        f"feature file {path} does not exist.{hint} AD-NeRF/ER-NeRF name DeepSpeech features "
        "'aud_ds.npy' (older scripts: 'aud.npy') and HuBERT features 'aud_hu.npy': pass the file that exists."
    )


def load_feature_array(
    path_or_array: Union[str, os.PathLike, np.ndarray],
    n_frames: Optional[int] = None,
    expected_dim: Optional[int] = None,
    window: int = WINDOW,
) -> np.ndarray:
    """Import pre-extracted speech features as ``(T, 16, D)`` per-frame windows.

    Accepted shapes:

    * ``(T, 16, D)`` per-frame windows, e.g. DeepSpeech ``aud_ds.npy`` ``(T, 16, 29)``: kept (other window
      lengths are refused).
    * ``(T, 2, D)`` two 50 Hz steps per video frame (ER-NeRF's HuBERT ``aud_hu.npy``):
      flattened to 50 Hz, then windowed.
    * ``(T, D, 16)`` and ``(T, D, 2)``: the two layouts above with their last axes swapped (accepted with an
      :class:`AudioAdjustmentWarning` naming the transpose); ``(D, T50)`` likewise when ``n_frames`` tells T50.
    * ``(T50, D)`` a 50 Hz sequence (HuBERT/wav2vec ``(T, 1024)``, a DeepSpeech
      ``(T, 29)`` dump, or our mel/MFCC): windowed. When ``n_frames`` is given and
      ``T`` equals it (±1), the array is taken as 25 Hz (one row per frame) and
      each row repeated twice before windowing.

    Args:
        path_or_array: a ``.npy`` path or an array.
        n_frames: the video's frame count; the result is trimmed/edge-padded to it
            when it differs by at most 2 frames (with an :class:`AudioAdjustmentWarning` saying so),
            otherwise an error names both counts. A 2D array with about ``n_frames`` rows is taken as
            25 Hz, also with a note (it may be a 50 Hz array of a clip half as long).
        expected_dim: the D the model was trained with; a different D is an error
            that names both kinds (29-d DeepSpeech vs 1024-d HuBERT, ...).
        window: window length W for 2D/``(T, 2, D)`` inputs.

    Returns:
        ``(T, W, D)`` float32.

    Explained in notebooks/04_audio_features.ipynb.
    """
    if isinstance(path_or_array, (str, os.PathLike)):
        path = Path(path_or_array)
        if not path.is_file():
            raise FileNotFoundError(_missing_feature_hint(path))
        try:
            arr = np.load(path, allow_pickle=False)
        except ValueError as exc:
            with open(path, "rb") as fh:
                npy = fh.read(6) == b"\x93NUMPY"
            why = f"an object (pickled) array ({exc})" if npy else "not a .npy file (no numpy header)"
            raise ValueError(f"{path} is {why}; save the features as a number array with numpy.save") from exc
        name = str(path)
    else:
        arr, name = np.asarray(path_or_array), "feature array"
    usual = "(T, 16, 29) DeepSpeech, (T, 1024) HuBERT/wav2vec at 50 Hz, (T, 2, 1024) HuBERT per frame, (T50, D) or (T, 16, D)"
    if np.iscomplexobj(arr) or arr.dtype == bool:
        raise ValueError(
            f"{name} holds {arr.dtype} values; features are real numbers (float32): save the real-valued "
            "features, not a spectrum or a mask"
        )
    if not np.issubdtype(arr.dtype, np.number) or arr.ndim not in (2, 3) or 0 in arr.shape:
        raise ValueError(
            f"{name} has shape {arr.shape} (dtype {arr.dtype}), which is not a feature layout this package uses. "
            f"Expected one of: {usual}."
        )
    require_finite(
        arr, name, "the features hold NaN or inf (a corrupt file, or a log taken without a floor); re-extract them"
    )
    arr = arr.astype(np.float32)
    if arr.ndim == 3 and arr.shape[1] not in (2, window) and arr.shape[2] in (2, window):
        # (T, D, 16) / (T, D, 2): the DeepSpeech / HuBERT per-frame layouts with the last two axes swapped
        # (a transpose in the extraction script); the step axis is the one of length 16 or 2
        _note(
            f"{name} has shape {arr.shape}: read as (T, {arr.shape[2]}, {arr.shape[1]}) with its last two axes "
            f"swapped ({arr.shape[1]} features per step, {arr.shape[2]} steps per frame), i.e. "
            "numpy.swapaxes(features, 1, 2)"
        )
        arr = np.ascontiguousarray(np.swapaxes(arr, 1, 2))
    elif (
        arr.ndim == 2
        and n_frames is not None
        and arr.shape[0] in set(FEATURE_DIMS.values()) | {768}
        and abs(arr.shape[1] - 2 * n_frames) <= 4
        and arr.shape[0] != arr.shape[1]
    ):
        _note(
            f"{name} has shape {arr.shape}: read as the 50 Hz sequence ({arr.shape[1]}, {arr.shape[0]}) "
            f"transposed ({arr.shape[0]} features per step, {arr.shape[1]} steps for {n_frames} frames), "
            "i.e. features.T"
        )
        arr = np.ascontiguousarray(arr.T)
    if arr.ndim == 3 and arr.shape[1] == 2:
        arr = arr.reshape(-1, arr.shape[2])  # (T, 2, D) -> (2T, D) at 50 Hz
        out = frame_windows(arr, arr.shape[0] // 2, window)
    elif arr.ndim == 3:
        if arr.shape[1] != window:
            raise ValueError(
                f"{name} has windows of {arr.shape[1]} steps, {arr.shape}; this package uses {window}-step "
                f"windows ((T, {window}, D), the DeepSpeech aud_ds.npy layout). Pass the 50 Hz sequence "
                "(T50, D) instead and it is windowed here"
            )
        out = arr
    else:
        if n_frames is not None and abs(arr.shape[0] - n_frames) <= 1 and arr.shape[0] < 1.5 * n_frames:
            _note(
                f"{name}: {arr.shape[0]} rows for {n_frames} video frames, taken as one row per frame (25 Hz) and "
                "repeated to 50 Hz. If it is a 50 Hz array (HuBERT, wav2vec, DeepSpeech dumps are), it covers only "
                "half of this clip: extract the features from this clip's whole audio"
            )
            arr = np.repeat(arr, 2, axis=0)  # 25 Hz rows -> 50 Hz
        out = frame_windows(arr, -(-arr.shape[0] // 2), window)
    d = out.shape[2]
    if expected_dim is not None and d != int(expected_dim):
        raise ValueError(
            f"{name} has {describe_dim(d)} features per step but the model expects {describe_dim(int(expected_dim))}. "
            "Training and driving must use the same feature extractor: re-extract the driving audio with the one used "
            "for training (or retrain on these features)."
        )
    if n_frames is not None and out.shape[0] != n_frames:
        diff = out.shape[0] - n_frames
        if abs(diff) > 2:
            raise ValueError(
                f"{name} covers {out.shape[0]} video frames but the video has {n_frames}: were the features "
                "extracted from this clip's audio at 25 fps?"
            )
        if diff > 0:
            _note(f"{name}: covers {out.shape[0]} video frames, the video has {n_frames}; dropped the last {diff}")
            out = out[:n_frames]
        else:
            _note(
                f"{name}: covers {out.shape[0]} video frames, the video has {n_frames}; repeated the last window "
                f"{-diff} time(s)"
            )
            out = np.concatenate([out, np.repeat(out[-1:], -diff, axis=0)])
    return np.ascontiguousarray(out)


__all__ = [
    "ffmpeg_exe",
    "AudioAdjustmentWarning",
    "AudioFit",
    "DC_OFFSET_LIMIT",
    "FEATURE_DIMS",
    "FPS",
    "KINDS",
    "NoAudioStreamError",
    "PCM_PEAK_LIMIT",
    "SAMPLE_RATE",
    "WINDOW",
    "audio_windows",
    "SILENT_PEAK",
    "check_kinds",
    "compute_features",
    "condition_levels",
    "describe_dim",
    "fit_to_frames",
    "frame_windows",
    "frames_without_audio",
    "load_audio",
    "load_feature_array",
    "mel_filterbank",
    "n_frames_for",
    "parse_kinds",
    "require_speech",
    "resample",
    "save_wav",
    "smooth_features",
    "smoothing_weights",
]
