"""The built-in synthetic speaker: a talking, blinking 3D head with perfect ground truth.

No real talking-head video or pretrained speech model may be downloaded at
run time, so the package makes its own speaker, fully determined by a seed:

* a random utterance of English-like phones is rendered to speech by a
  formant synthesiser (:mod:`.speech_synth`) and, through visemes with
  coarticulation (:mod:`.visemes`), drives jaw opening, lip spread and rounding;
* blinks at natural rates and durations (:mod:`.blinks`) close the lids;
* the head (:mod:`.head_model`, a deformable mesh with eyes, lids, lips,
  teeth and a mouth cavity, textured by :mod:`.face_texture`) moves a little
  (yaw/pitch/roll of a few degrees and small shifts, smooth, with nods on
  stressed syllables) in front of a fixed pinhole camera, and is rasterised
  (:mod:`.rasterizer`, :mod:`.head_render`) at any resolution;
* ground truth per frame: the camera-to-world pose (head pose folded into the
  camera, OpenCV axes), the 68 landmarks in the head frame and their pixel
  projections, AU45 on the 0-5 scale.

``generate_speaker`` returns a :class:`~talkface_lite.data.dataset.SpeakerRecording`;
``cached_speaker`` writes it once as a dataset under ``build/cache/`` keyed by
its parameters and returns the path (notebooks call this); the command line is
``talkface-lite synth OUT --seconds S --size N --seed K``.

Determinism: every random stream is a ``numpy.random.Generator`` seeded from
``(seed, stream)``, and rendering runs single-threaded with order-independent
z-buffering, so the same seed gives byte-identical frames and audio on any
machine with the same library versions. Rendering single-threaded also keeps
it fast on shared CPUs, where PyTorch's thread pool can oversubscribe.

Explained in notebooks/00_setup_and_tour.ipynb.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from ... import repro
from ...checks import require_room
from ...progress import tqdm
from . import blinks as _blinks
from . import head_render as hr
from . import speech_synth, visemes
from .head_model import FaceLayout, FaceState, HeadModel, step_for_size

#: bump when the generator's output changes (it is part of the cache key)
GENERATOR_VERSION = 1
FPS = 25.0
SAMPLE_RATE = speech_synth.SAMPLE_RATE
_STREAMS = {"identity": 1, "speech": 2, "voice": 3, "blinks": 4, "motion": 5, "texture": 6, "gaze": 7, "timbre": 8}
MIN_SIZE, MAX_SIZE = 32, 2048
MAX_SECONDS = 3600.0  # one hour of footage; longer clips are not what a talking-head dataset is
MAX_MOTION = 5.0  # head-motion scale that keeps every landmark in frame (seed 0 leaves the frame above ~12)
# Cost model of one rendered frame on one core (figures/bench_synth.md: 20 frames/s at 128 px, 14 at 256 px)
# and of a written frame on disk (frames + masks + features, measured on the cached 128 px speakers).
_FRAME_S = (0.043, 4.3e-7)  # seconds: fixed + per pixel
_DISK_BYTES_PER_PIXEL = 2.5


def _rng(seed: int, stream: str) -> np.random.Generator:
    return np.random.default_rng([int(seed), _STREAMS[stream]])


@contextlib.contextmanager
def single_threaded_torch():
    """Run torch CPU ops on one thread inside the block (restores the previous setting)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def head_motion(n_frames: int, fps: float, rng: np.random.Generator, segs=None, amount: float = 1.0) -> np.ndarray:
    """Smooth small head motion.

    Args:
        n_frames: number of frames.
        fps: frame rate.
        rng: random generator.
        segs: the utterance; stressed vowels add a small nod (pitch) when given.
        amount: scale of the motion (0 = a still head).

    Returns:
        (T, 6) yaw, pitch, roll (radians) and x, y, z translation (dm) per frame.
    """
    t = np.arange(n_frames) / fps
    amp = np.deg2rad([5.0, 3.0, 2.0]).tolist() + [0.04, 0.03, 0.03]
    out = np.zeros((n_frames, 6))
    for k in range(6):
        for _ in range(3):  # three incommensurate sinusoids per degree of freedom
            f = rng.uniform(0.04, 0.35)
            out[:, k] += rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
        out[:, k] *= amp[k] / 1.6
    if segs is not None:
        for s in segs:
            if s.stress:
                out[:, 1] += np.deg2rad(0.8) * np.exp(-0.5 * ((t - s.centre) / 0.12) ** 2)
    return out * amount


@dataclasses.dataclass
class SpeakerScript:
    """Everything about a clip except the pixels: audio, utterance, per-frame states and poses."""

    seconds: float
    audio: np.ndarray
    segments: list
    states: list
    au45: np.ndarray
    blinks: list
    motion: np.ndarray
    poses: np.ndarray
    gaze: list = dataclasses.field(default_factory=list)  # looking-down episodes (eyes open, true AU45 0)


@dataclasses.dataclass(frozen=True)
class SpeakerTraits:
    """What stays the same about speaker ``seed`` whatever it says.

    ``base_f0`` and ``blink_rate`` are the first draws of its voice and blink streams. The timbre
    (``formant_scale``, ``rate``, ``breathiness``) comes from its own stream, so adding it changed nothing
    else; it is what the seed's voice brings when it is lent (``make_script(..., voice_seed=seed)``): a
    speaker's own clips keep the neutral timbre of its rendered dataset.
    """

    base_f0: float  # Hz, the voice's base pitch (95-210)
    blink_rate: float  # blinks per minute (12-22)
    formant_scale: float = 1.0  # vocal-tract length factor on every formant (0.88-1.18)
    rate: float = 1.0  # speaking rate, > 1 faster (0.85-1.2)
    breathiness: float = 0.0  # aspiration noise / voiced RMS (0-0.3)


def _check_seed(value, name: str, optional: bool = False) -> None:
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer{' or None' if optional else ''}, got {value!r}")


def speaker_traits(seed: int) -> SpeakerTraits:
    """The voice and blink rate of speaker ``seed`` (what :func:`make_script` uses for it with ``utterance_seed``).

    Raises:
        ValueError: ``seed`` not a non-negative integer.
    """
    _check_seed(seed, "seed")
    timbre = _rng(seed, "timbre")
    return SpeakerTraits(
        base_f0=float(_rng(seed, "voice").uniform(95, 210)),
        blink_rate=float(_rng(seed, "blinks").uniform(12, 22)),
        formant_scale=float(timbre.uniform(0.88, 1.18)),
        rate=float(timbre.uniform(0.85, 1.2)),
        breathiness=float(timbre.uniform(0.0, 0.3)),
    )


def make_script(
    seconds: float,
    seed: int,
    fps: float = FPS,
    motion: float = 1.0,
    gaze: bool = False,
    utterance_seed: Optional[int] = None,
    voice_seed: Optional[int] = None,
) -> SpeakerScript:
    """Audio, visemes, blinks and head motion of a clip (fast; no rendering).

    ``gaze=True`` adds looking-down episodes (:func:`talkface_lite.data.synthetic.blinks.sample_gaze`): lids lowered
    and head pitched down with the eyes open (true AU45 stays 0). Off by default, so clips made before it
    existed are unchanged; it draws from its own random stream.

    ``utterance_seed`` makes speaker ``seed`` (its :class:`SpeakerTraits`) say and do something else: the
    phones, prosody, voice jitter, blink times and head motion come from ``utterance_seed``'s streams.
    ``None`` (the default) is the clip ``talkface-lite synth --seed seed`` renders. ``utterance_seed=seed``
    is *not* that clip: with the traits fixed first, the voice and blink streams skip the draws that
    chose them, so every later draw (pitch jitter, blink times) moves; it is another utterance of the
    same speaker, like any other ``utterance_seed``.

    Voices: a speaker's own voice is the one its rendered ``synth`` clip has, whatever it says: its pitch
    (``base_f0``) with a neutral timbre (formant scale 1, speaking rate 1, no breathiness), as in
    :data:`GENERATOR_VERSION` 1, so every clip of speaker ``seed`` sounds like its dataset. ``voice_seed``
    (with ``utterance_seed``) lends it speaker ``voice_seed``'s whole voice from :func:`speaker_traits`:
    pitch, formant scale, speaking rate and breathiness (same face and blink rate, another voice: a
    held-out *voice* with ground-truth mouths; ``voice_seed=seed`` is the speaker's own pitch with its
    lent timbre).

    Raises:
        ValueError: ``seconds`` below 1, ``seed`` / ``utterance_seed`` / ``voice_seed`` not a non-negative
            integer, or ``voice_seed`` without ``utterance_seed``.
    """
    if not np.isfinite(seconds) or seconds < 1.0:
        raise ValueError(f"seconds must be >= 1 (a clip needs at least one phrase), got {seconds}")
    _check_seed(seed, "seed")
    _check_seed(utterance_seed, "utterance_seed", optional=True)
    _check_seed(voice_seed, "voice_seed", optional=True)
    if voice_seed is not None and utterance_seed is None:
        raise ValueError("voice_seed needs utterance_seed (the synth clip keeps its own voice): pass both")
    n_frames = int(round(seconds * fps))
    said = seed if utterance_seed is None else utterance_seed
    traits = None if utterance_seed is None else speaker_traits(seed)  # None: drawn in the streams below, as traits
    voice = None if voice_seed is None else speaker_traits(voice_seed)  # None: the speaker's own (neutral timbre)
    segs = speech_synth.random_utterance(seconds, _rng(said, "speech"), rate=voice.rate if voice else 1.0)
    audio = speech_synth.synthesize(
        segs,
        seconds,
        _rng(said, "voice"),
        base_f0=(voice or traits) and (voice or traits).base_f0,
        formant_scale=voice.formant_scale if voice else 1.0,
        breathiness=voice.breathiness if voice else 0.0,
    )
    times = np.arange(n_frames) / fps
    vis = visemes.viseme_tracks(segs, times)  # (T, 3)
    blink_events = _blinks.sample_blinks(seconds, _rng(said, "blinks"), traits and traits.blink_rate)
    au45 = _blinks.au45_trace(blink_events, times)
    mot = head_motion(n_frames, fps, _rng(said, "motion"), segs, motion)
    looks = _blinks.sample_gaze(seconds, _rng(said, "gaze")) if gaze else []
    lids = _blinks.gaze_trace(looks, times)  # (T, 2): lid lowering, head pitch
    mot[:, 1] += lids[:, 1]
    close = np.maximum(au45 / 5.0, lids[:, 0])
    states = [
        FaceState(jaw=float(v[0]), spread=float(v[1]), round=float(v[2]), close_right=float(c), close_left=float(c))
        for v, c in zip(vis, close)
    ]
    poses = np.stack([hr.camera_pose(*m[:3], translation=m[3:]) for m in mot]).astype(np.float32)
    return SpeakerScript(seconds, audio, segs, states, au45.astype(np.float32), blink_events, mot, poses, looks)


@dataclasses.dataclass(frozen=True)
class Estimate:
    """What generating and writing a synthetic clip will take (a model fitted to measurements, not a promise)."""

    frames: int
    memory_bytes: int  # frames held in memory while generating
    disk_bytes: int  # the written dataset
    seconds: float  # wall time of the rendering

    def describe(self) -> str:
        return (
            f"{self.frames} frames: about {self.memory_bytes / 2**30:.2f} GiB in memory, "
            f"{self.disk_bytes / 2**30:.2f} GiB on disk, {_duration(self.seconds)} of rendering"
        )


def _duration(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else (f"{s / 60:.0f} min" if s < 7200 else f"{s / 3600:.1f} h")


def estimate(seconds: float, size: int, workers: int = 1, fps: float = FPS) -> Estimate:
    """Frames, memory, disk and time of a synthetic clip of ``seconds`` at ``size`` px with ``workers`` processes."""
    n = int(round(float(seconds) * fps))
    pixels = int(size) * int(size)
    audio = int(float(seconds) * 16000) * 4 * 8  # float32 samples and the script's working copies
    return Estimate(
        frames=n,
        memory_bytes=n * pixels * 3 + n * 68 * 5 * 4 + audio,
        disk_bytes=int(n * pixels * _DISK_BYTES_PER_PIXEL),
        seconds=n * (_FRAME_S[0] + _FRAME_S[1] * pixels) / max(1, min(int(workers), os.cpu_count() or 1)),
    )


def check_resources(seconds: float, size: int, out_dir: Optional[os.PathLike] = None, workers: int = 1) -> Estimate:
    """Refuse, before any work, a clip whose frames cannot fit in memory (or, given ``out_dir``, on its disk).

    Returns:
        The :class:`Estimate` (callers print it for long jobs).

    Raises:
        ValueError: naming what is needed, what is available and what to change.
    """
    est = estimate(seconds, size, workers)
    require_room(
        f"a {seconds:g} s clip at {size} px",
        est.memory_bytes,
        est.disk_bytes,
        out_dir,
        "make a shorter clip (seconds) or a smaller one (size)",
    )
    return est


def check_args(seconds: float, size: int, seed: int, motion: float = 1.0) -> None:
    """Raise ``ValueError`` naming the first clip setting out of its range (before any work)."""
    if not isinstance(size, (int, np.integer)) or not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(
            f"size must be an integer number of pixels in [{MIN_SIZE}, {MAX_SIZE}], got {size!r} "
            "(64 for tests, 128-256 QUICK, 512 FULL)"
        )
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if not isinstance(seconds, (int, float)) or not np.isfinite(seconds) or not 1.0 <= seconds <= MAX_SECONDS:
        raise ValueError(f"seconds must be a number in [1, {MAX_SECONDS:g}], got {seconds!r}")
    if not isinstance(motion, (int, float)) or not np.isfinite(motion) or not 0.0 <= motion <= MAX_MOTION:
        raise ValueError(
            f"motion must be in [0, {MAX_MOTION:g}] (0 a still head, 1 the default; larger moves the "
            f"face out of frame), got {motion!r}"
        )


def build_speaker_model(size: int, seed: int):
    """The identity of speaker ``seed`` at resolution ``size``: ``(HeadModel, Appearance, K)``."""
    model = HeadModel(FaceLayout.random(_rng(seed, "identity")), step=step_for_size(size))
    look = hr.Appearance.create(model, size, _rng(seed, "texture"))
    return model, look, hr.intrinsics_for(size)


_WORK = None  # what forked render workers inherit


def _render_one(model, look, k, size, script, i):
    st, c2w = script.states[i], script.poses[i].astype(np.float64)
    lm = model.landmarks(st)
    return hr.render_frame(model, st, c2w, k, size, look), lm, hr.project_points(lm, c2w, k)


def _render_chunk(indices):
    model, look, k, size, script = _WORK
    out = [[], [], []]
    with single_threaded_torch():
        for i in indices:
            for acc, val in zip(out, _render_one(model, look, k, size, script, i)):
                acc.append(val)
    return tuple(np.stack(a) for a in out)


def generate_speaker(
    seconds: float = 10.0,
    size: int = 128,
    seed: int = 0,
    fps: float = FPS,
    motion: float = 1.0,
    progress: bool = True,
    workers: int = 1,
    gaze: bool = False,
):
    """Generate a synthetic talking-head clip.

    Args:
        seconds: clip length (>= 1).
        size: frame height = width in pixels (32-2048).
        seed: the speaker and everything it says and does.
        fps: video frame rate (the package uses 25).
        motion: head-motion scale (0 for a still head).
        progress: show a tqdm progress bar while rendering.
        workers: render in this many forked processes (Linux/macOS; frames are
            independent, so the output is identical to ``workers=1``).
        gaze: add looking-down episodes (eyes open, lids lowered, head pitched down; true AU45 0), listed
            in ``extra["gaze"]`` as [start s, duration s, lid, pitch degrees] (see :func:`make_script`).

    Returns:
        A :class:`~talkface_lite.data.dataset.SpeakerRecording` with frames (T, size, size, 3)
        uint8, 16 kHz audio, intrinsics, poses (T, 4, 4), landmarks (T, 68, 3),
        landmarks2d (T, 68, 2), au45 (T,), the background plate and provenance in ``extra``.
    """
    from ..dataset import SpeakerRecording

    check_args(seconds, size, seed, motion)
    check_resources(seconds, size, workers=workers)
    script = make_script(float(seconds), int(seed), fps, motion, gaze=gaze)
    model, look, k = build_speaker_model(int(size), int(seed))
    n = len(script.states)
    frames = np.empty((n, size, size, 3), dtype=np.uint8)
    lm3d = np.empty((n, 68, 3), dtype=np.float32)
    lm2d = np.empty((n, 68, 2), dtype=np.float32)
    workers = max(1, min(int(workers), n))
    bar = tqdm(total=n, desc=f"synth {size}px", unit="frame", disable=not progress, leave=False)
    if workers == 1 or "fork" not in mp.get_all_start_methods():
        with single_threaded_torch():
            for i in range(n):
                frames[i], lm3d[i], lm2d[i] = _render_one(model, look, k, size, script, i)
                bar.update(1)
    else:
        global _WORK
        _WORK = (model, look, k, size, script)
        chunks = [list(c) for c in np.array_split(np.arange(n), workers * 4) if len(c)]
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork")) as pool:
            for idx, (f, a, b) in zip(chunks, pool.map(_render_chunk, chunks)):
                frames[idx], lm3d[idx], lm2d[idx] = f, a, b
                bar.update(len(idx))
        _WORK = None
    bar.close()
    centres = script.poses[:, :3, 3]
    dist = np.linalg.norm(centres, axis=1)
    extra = {
        "generator": "talkface_lite.data.synthetic",
        "generator_version": GENERATOR_VERSION,
        "seed": int(seed),
        "seconds": float(seconds),
        "size": int(size),
        "motion": float(motion),
        "layout": dataclasses.asdict(model.layout),
        "phones": [[s.phone, round(s.start, 5), round(s.duration, 5), int(s.stress)] for s in script.segments],
        "blinks": [[round(b.start, 4), round(b.duration, 4), round(b.peak, 3)] for b in script.blinks],
        **(
            {
                "gaze": [
                    [round(g.start, 4), round(g.duration, 4), round(g.lid, 3), round(float(np.degrees(g.pitch)), 2)]
                    for g in script.gaze
                ]
            }
            if gaze
            else {}
        ),
        "visemes": [[round(s.jaw, 4), round(s.spread, 4), round(s.round, 4)] for s in script.states],
        "head_frame": "x: subject's left, y: up, z: out of the face; decimetres (talkface_lite.landmarks)",
    }
    return SpeakerRecording(
        frames=frames,
        audio=script.audio,
        intrinsics=k.astype(np.float32),
        poses=script.poses,
        landmarks=lm3d,
        landmarks2d=lm2d,
        au45=script.au45,
        fps=float(fps),
        background=(look.background * 255 + 0.5).astype(np.uint8),
        near=float(dist.min() - 1.8),
        far=float(dist.max() + 1.8),
        source=f"synthetic:seed={int(seed)}",
        extra=extra,
    )


def cache_key(
    seconds: float, size: int, seed: int, features: Sequence[str] = ("mel",), val_fraction: float = 0.1
) -> str:
    """Folder name of a cached synthetic dataset (changes with :data:`GENERATOR_VERSION`)."""
    key = f"synth-v{GENERATOR_VERSION}-s{float(seconds):g}-n{int(size)}-seed{int(seed)}-{'+'.join(sorted(features))}"
    return key if float(val_fraction) == 0.1 else f"{key}-val{float(val_fraction):g}"


def cached_speaker(
    seconds: float = 10.0,
    size: int = 128,
    seed: int = 0,
    features: Sequence[str] = ("mel",),
    root: Optional[os.PathLike] = None,
    progress: bool = True,
    val_fraction: float = 0.1,
) -> Path:
    """Path of a synthetic speaker dataset, generated and written once under ``build/cache/``.

    Args:
        seconds, size, seed: as in :func:`generate_speaker`.
        features: audio feature kinds to store (see :func:`talkface_lite.data.dataset.write_dataset`).
        root: cache folder (default ``<build>/cache``).
        progress: show progress bars when generating.
        val_fraction: tail of the clip held out for validation (a talking-head evaluation wants a tail
            long enough to hold speech: utterances end in about 1.5 s of silence).

    Returns:
        The dataset folder (load it with :func:`talkface_lite.data.dataset.load_dataset`).
    """
    from ..dataset import DatasetError, is_dataset, write_dataset

    check_args(seconds, size, seed)
    root = Path(root) if root is not None else repro.build_dir() / "cache"
    path = root / cache_key(seconds, size, seed, features, val_fraction)
    if is_dataset(path):
        return path
    check_resources(seconds, size, out_dir=path)
    rec = generate_speaker(seconds, size, seed, progress=progress)
    try:
        write_dataset(
            rec, path, features=tuple(features), val_fraction=val_fraction, overwrite=False, progress=progress
        )
    except (FileExistsError, DatasetError):
        if not is_dataset(path):  # another process may have written it meanwhile
            raise
    return path


__all__ = [
    "GENERATOR_VERSION",
    "FPS",
    "MAX_MOTION",
    "MAX_SECONDS",
    "Estimate",
    "check_resources",
    "estimate",
    "check_args",
    "generate_speaker",
    "cached_speaker",
    "cache_key",
    "make_script",
    "build_speaker_model",
    "head_motion",
    "single_threaded_torch",
    "SpeakerScript",
    "SpeakerTraits",
    "speaker_traits",
]
