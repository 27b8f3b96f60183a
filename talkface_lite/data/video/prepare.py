"""``talkface-lite prepare``: a real talking-head video -> the dataset format.

Steps, each reported in :class:`PrepareReport` (its ``notes`` list every adjustment made: display
rotation, pixel aspect, frame-rate resampling, downscaling, audio padded or trimmed, frames without
speech, frames without a face, AU45 frames the OpenFace CSV did not cover, leftovers removed):

1. check everything the arguments and input files can tell before any decoding, and refuse what cannot
   work: settings out of range, a missing file or one that is not a video, no audio stream or silent
   audio (unless a separate ``audio`` file with speech is given), audio that would leave most frames
   without speech, an OpenFace CSV without AU45, imported features with a bad name, layout or length,
   an output folder that already holds a dataset (without ``overwrite``). Temporary folders of a
   killed earlier run are removed first (:mod:`talkface_lite.data.leftovers`);
2. audio to 16 kHz mono (:func:`talkface_lite.audio.load_audio`), later padded with silence or trimmed
   to exactly the frames' length (:func:`talkface_lite.audio.fit_to_frames`);
3. frames as a player shows them (display rotation, square pixels), resampled to 25 fps and downscaled
   to ``max_size`` (:func:`talkface_lite.data.video.codec.decode`);
4. 68 landmarks per frame with dlib, detection + tracking, in blocks spread over ``workers`` processes;
   a frame has a face only where it is confirmed, one identity is followed
   (:class:`~talkface_lite.data.video.face_detect.LandmarkTracker`); frames without a face get landmarks
   linearly interpolated from their neighbours; fewer than ``min_detection_rate`` detected frames is
   an error ("no face in most frames");
5. AU45 from MediaPipe's eyelids or dlib's eye aspect ratio, with the speaker's own open-eye baseline,
   head pitch undone and closures longer than a blink removed (:func:`talkface_lite.eye_state.au45_from_video`),
   or from an OpenFace CSV, whose uncovered frames get that estimate;
6. head pose by PnP against the generic template, smoothed over time, folded
   into camera-to-world poses; head-frame 3D landmarks by back-projection
   (:mod:`talkface_lite.data.video.pose`);
7. masks, background plate, audio features and the train/val split, written
   atomically by :func:`talkface_lite.data.dataset.write_dataset`.

Explained in README.md ("Preparing your own video").
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

from ... import audio as _audio
from ... import eye_state as _eyes
from ...checks import require_room
from .. import dataset as _ds
from ..leftovers import clean_leftovers, decode_prefix
from . import codec as _video
from . import pose as _pose

_AU45_LABELS = {"ear": "eye aspect ratio (dlib)", "mediapipe": "MediaPipe eyelids"}
AU45_SOURCES = ("auto", "ear", "mediapipe", "openface")
MIN_AUDIO_COVERAGE = 0.5  # refuse clips where more than half of the frames would have no speech under them
MUX_HINT = "ffmpeg -i video.mp4 -i speech.wav -map 0:v -map 1:a -c:v copy out.mp4"
BLOCK = 200  # frames per tracking job
OVERLAP = 25  # frames before a block that warm its tracker up (1 s)


@dataclasses.dataclass
class PrepareReport:
    """What ``prepare`` did: sizes, rates, repairs and timings."""

    source: str
    output: str = ""
    input_fps: float = 0.0
    input_size: Tuple[int, int] = (0, 0)
    output_size: Tuple[int, int] = (0, 0)
    n_frames: int = 0
    detected_frames: int = 0
    interpolated_runs: List[Tuple[int, int]] = dataclasses.field(default_factory=list)
    detector_calls: int = 0
    multi_face_frames: int = 0
    blinks: List[Tuple[int, int]] = dataclasses.field(default_factory=list)
    au45_source: str = ""  # what produced AU45, in words
    au45_method: str = ""  # the same as an --au45-source value: "mediapipe", "ear" or "openface"
    pnp_rms_px: float = 0.0
    audio_seconds: float = 0.0  # as loaded, before fitting to the frames
    audio_padded_seconds: float = 0.0  # silence appended: the audio ended before the video
    audio_trimmed_seconds: float = 0.0  # audio cut: it went on after the last frame
    frames_without_audio: int = 0
    au45_estimated_frames: int = 0  # frames the OpenFace CSV did not cover (filled with our own estimate)
    notes: List[str] = dataclasses.field(default_factory=list)
    timings: dict = dataclasses.field(default_factory=dict)

    @property
    def detection_rate(self) -> float:
        return self.detected_frames / max(self.n_frames, 1)

    @property
    def interpolated_frames(self) -> int:
        return int(sum(b - a for a, b in self.interpolated_runs))

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d.update(
            detection_rate=round(self.detection_rate, 4),
            interpolated_frames=self.interpolated_frames,
            n_blinks=len(self.blinks),
        )
        return d

    def summary(self) -> str:
        total = sum(self.timings.values())
        lines = [
            f"prepared {self.source} -> {self.output}",
            f"  frames: {self.n_frames} at 25 fps, {self.output_size[0]}x{self.output_size[1]} "
            f"(input {self.input_size[0]}x{self.input_size[1]} at {self.input_fps:g} fps), audio {self.audio_seconds:.2f} s",
            f"  face found in {self.detected_frames}/{self.n_frames} frames ({100 * self.detection_rate:.1f} %), "
            f"{self.interpolated_frames} frames repaired by interpolation in {len(self.interpolated_runs)} runs, "
            f"{self.detector_calls} detector runs",
            f"  blinks: {len(self.blinks)} (AU45 from {self.au45_source}); PnP reprojection RMS {self.pnp_rms_px:.2f} px",
        ]
        lines += [f"  note: {n}" for n in self.notes]
        lines.append(
            f"  time: {total:.1f} s ("
            + ", ".join(f"{k} {v:.1f}" for k, v in self.timings.items())
            + f"), {self.n_frames / max(total, 1e-9):.1f} frames/s"
        )
        return "\n".join(lines)


# ----------------------------------------------------------------------------- landmarks in worker processes
_TRACKER = None


def _init_worker(detect_max: int, redetect_every: int) -> None:
    global _TRACKER
    from .face_detect import LandmarkTracker

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _TRACKER = LandmarkTracker(detect_max=detect_max, redetect_every=redetect_every)


def _run_block(
    tracker, frames, start: int, stop: int, overlap: int, follow: Optional[np.ndarray] = None
) -> Tuple[np.ndarray, int, int]:
    """Track frames ``start - overlap … stop``; return landmarks ``(stop - start, 68, 2)`` (NaN: no face).

    The ``overlap`` frames before the block only warm the tracker up, so a
    block that starts on a frame the detector misses (a turned head) is still
    tracked from its predecessor, and the result does not depend on how the
    blocks are spread over workers.

    ``follow``: landmarks of the person followed at the end of the previous block, so a block starts on
    the same person (see :func:`track_landmarks`).

    Returns:
        the landmarks, the detector runs, and the block's frames in which the detector saw more than one face.
    """
    tracker.reset(follow)
    out = np.full((stop - start, 68, 2), np.nan, np.float32)
    multi = 0
    for i in range(max(0, start - overlap), stop):
        before = tracker.n_multi_face
        lm = tracker(np.asarray(frames[i]))
        if i >= start:
            multi += tracker.n_multi_face - before
            if lm is not None:
                out[i - start] = lm
    return out, tracker.n_detections, multi


def _track_block(job) -> Tuple[int, np.ndarray, int, int]:
    """Worker: landmarks of frames ``start:stop`` of a memmap."""
    store, shape, start, stop, overlap = job
    frames = np.memmap(store, dtype=np.uint8, mode="r", shape=shape)
    return (start, *_run_block(_TRACKER, frames, start, stop, overlap))


@dataclasses.dataclass
class Tracking:
    """What :func:`track_landmarks` found: landmarks and how they were found."""

    landmarks: np.ndarray  # (T, 68, 2) float32, NaN rows: no confirmed face
    detector_calls: int
    multi_face_frames: int  # frames where the detector saw a second face (the nearest one was followed)


def track_landmarks(
    frames: np.ndarray,
    workers: int = 2,
    detect_max: int = 320,
    redetect_every: int = 10,
    progress: bool = True,
    block: int = BLOCK,
    overlap: int = OVERLAP,
) -> Tracking:
    """68 landmarks of every frame ``(T, H, W, 3)`` (a ``np.memmap`` for ``workers > 1``).

    Frames are tracked in blocks of ``block`` frames, each warmed up on the
    ``overlap`` frames before it, so the result does not depend on ``workers``.
    A frame has landmarks only when its face is confirmed (detected, or tracked
    with the detected face's appearance; :class:`~talkface_lite.data.video.face_detect.LandmarkTracker`).

    Returns:
        :class:`Tracking`: ``(T, 68, 2)`` float32 landmarks with NaN rows where no face was confirmed,
        the number of detector runs and of frames with more than one face.

    Explained in README.md ("Preparing your own video").
    """
    from ...progress import tqdm

    t = len(frames)
    jobs = [
        (getattr(frames, "filename", None), frames.shape, s, min(s + block, t), overlap) for s in range(0, t, block)
    ]
    out = np.full((t, 68, 2), np.nan, np.float32)
    calls = multi = 0
    bar = tqdm(total=t, desc="landmarks", unit="frame", disable=not progress, leave=False)
    if workers > 1 and len(jobs) > 1 and jobs[0][0] is not None:
        import multiprocessing as mp

        ctx = mp.get_context("fork" if hasattr(os, "fork") else "spawn")
        with ProcessPoolExecutor(
            workers, mp_context=ctx, initializer=_init_worker, initargs=(detect_max, redetect_every)
        ) as pool:
            for start, lm, n, m in pool.map(_track_block, jobs):
                out[start : start + len(lm)] = lm
                calls, multi = calls + n, multi + m
                bar.update(len(lm))
    else:
        from .face_detect import LandmarkTracker

        tracker = LandmarkTracker(detect_max=detect_max, redetect_every=redetect_every)
        for _, _, start, stop, _ in jobs:
            out[start:stop], n, m = _run_block(tracker, frames, start, stop, overlap)
            calls, multi = calls + n, multi + m
            bar.update(stop - start)
    bar.close()
    if multi:
        calls += _same_person_across_blocks(frames, out, jobs, detect_max, redetect_every)
    return Tracking(out, calls, multi)


def _same_person_across_blocks(frames, out: np.ndarray, jobs, detect_max: int, redetect_every: int) -> int:
    """Re-track, in order, every block that started on another person than the previous block ended on.

    Blocks are tracked independently (in parallel), each picking the largest face at its start; with two
    people in view that may be the other one. Only clips where the detector saw a second face get here.
    Returns the extra detector runs.
    """
    from .face_detect import LandmarkTracker

    tracker, calls = None, 0
    for _, _, start, stop, overlap in jobs[1:]:
        before = out[:start][np.isfinite(out[:start]).all(axis=(1, 2))]
        first = out[start:stop][np.isfinite(out[start:stop]).all(axis=(1, 2))]
        if not len(before) or not len(first):
            continue
        was, now = LandmarkTracker.anchor_of(before[-1]), LandmarkTracker.anchor_of(first[0])
        if np.linalg.norm(now[:2] - was[:2]) <= 0.5 * was[2]:
            continue
        tracker = tracker or LandmarkTracker(detect_max=detect_max, redetect_every=redetect_every)
        out[start:stop], n, _ = _run_block(tracker, frames, start, stop, 0, follow=before[-1])
        calls += n
    return calls


def interpolate_missing(lm: np.ndarray) -> Tuple[np.ndarray, List[Tuple[int, int]]]:
    """Fill NaN frames of ``(T, 68, 2)`` linearly from the nearest detected frames (edges: nearest).

    Returns:
        the filled array and the runs ``[start, end)`` that were filled.
    """
    missing = ~np.isfinite(lm).all(axis=(1, 2))  # (T,)
    if missing.all():
        raise ValueError("no frame has landmarks to interpolate from")
    runs, i = [], 0
    while i < len(missing):
        if missing[i]:
            j = i
            while j < len(missing) and missing[j]:
                j += 1
            runs.append((i, j))
            i = j
        else:
            i += 1
    if not runs:
        return lm, []
    t = np.arange(len(lm))
    flat = lm.reshape(len(lm), -1).copy()  # (T, 136)
    good = ~missing
    for k in range(flat.shape[1]):
        flat[missing, k] = np.interp(t[missing], t[good], flat[good, k])
    return flat.reshape(lm.shape), runs


# ----------------------------------------------------------------------------- the pipeline
@contextlib.contextmanager
def _notes_into(report: PrepareReport):
    """Record the audio module's adjustment warnings (scaled, trimmed, transposed ...) as report notes."""
    with warnings.catch_warnings(record=True) as adjusted:
        warnings.simplefilter("always", _audio.AudioAdjustmentWarning)
        yield
    report.notes += [str(w.message) for w in adjusted if issubclass(w.category, _audio.AudioAdjustmentWarning)]


def _check_au45_source(source: str, openface_csv) -> None:
    """Refuse an unknown AU45 source, ``openface`` without a CSV, or ``mediapipe`` when it is not installed."""
    if source not in AU45_SOURCES:
        raise ValueError(f"au45_source must be one of {', '.join(AU45_SOURCES)}, got {source!r}")
    if source == "openface" and openface_csv is None:
        raise ValueError("au45_source 'openface' needs the CSV: pass --openface-csv (OpenFace FeatureExtraction -aus)")
    if source in ("ear", "mediapipe") and openface_csv is not None:
        raise ValueError(f"--openface-csv was given with au45_source {source!r}: drop one of them")
    if source == "mediapipe" and not _eyes.mediapipe_available():
        raise ImportError(
            "au45_source 'mediapipe' needs the blink extra: pip install 'talkface_lite[blink]' "
            "(mediapipe and the face_landmarker.task bundle), or use 'ear'"
        )


def _check_audio_coverage(speech: np.ndarray, n_frames: int, speech_source, video) -> None:
    """Refuse when more than half of ``n_frames`` would have no speech under them (:data:`MIN_AUDIO_COVERAGE`)."""
    silent = _audio.frames_without_audio(len(speech), n_frames)
    if 1.0 - silent / max(n_frames, 1) < MIN_AUDIO_COVERAGE:
        raise ValueError(
            f"the audio of {Path(speech_source).name} lasts {len(speech) / _audio.SAMPLE_RATE:.2f} s but {Path(video).name} "
            f"{n_frames / _video.TARGET_FPS:.2f} s: {silent} of {n_frames} frames would have no speech. Pass the "
            "speech recorded with this video (--audio), or trim the video to the speech "
            f"(ffmpeg -i {Path(video).name} -t {len(speech) / _audio.SAMPLE_RATE:.2f} -c copy trimmed.mp4)"
        )


def check_arguments(
    max_size: int,
    focal: Optional[float],
    workers: int,
    redetect_every: int,
    min_detection_rate: float,
    val_fraction: float,
    pose_sigma: float,
) -> None:
    """Raise ``ValueError`` naming the first :func:`prepare_video` setting out of its range (before any work)."""
    bounds = [
        ("max_size", max_size, 64 <= max_size <= 2048, "an integer number of pixels in [64, 2048]"),
        ("workers", workers, 1 <= workers <= 64, "in [1, 64]"),
        ("redetect_every", redetect_every, 1 <= redetect_every <= 1000, "in [1, 1000] frames"),
        ("min_detection_rate", min_detection_rate, 0.0 < min_detection_rate <= 1.0, "in (0, 1]"),
        ("val_fraction", val_fraction, 0.0 <= val_fraction < 1.0, "in [0, 1)"),
        ("pose_sigma", pose_sigma, 0.0 <= pose_sigma <= 100.0, "in [0, 100] frames"),
    ]
    if focal is not None:
        bounds.append(("focal", focal, 0.0 < focal < 1e5, "a positive focal length in pixels"))
    for name, value, ok, rule in bounds:
        if not isinstance(value, (int, float, np.integer, np.floating)) or not np.isfinite(value) or not ok:
            raise ValueError(f"{name} must be {rule}, got {value!r}")


def prepare_video(
    video: Union[str, os.PathLike],
    out_dir: Union[str, os.PathLike],
    openface_csv=None,
    features: Sequence[str] = ("mel",),
    overwrite: bool = False,
    audio_path=None,
    max_size: int = _video.MAX_SIZE,
    focal: Optional[float] = None,
    workers: int = 2,
    redetect_every: int = 10,
    min_detection_rate: float = 0.5,
    val_fraction: float = 0.1,
    pose_sigma: float = 3.0,
    import_features: Optional[dict] = None,
    progress: bool = True,
    au45_source: str = "auto",
) -> PrepareReport:
    """Turn a talking-head video into a dataset folder (see the module docstring for the steps).

    Args:
        video: the clip (any container/codec ffmpeg reads; 1–5 minutes is typical).
        out_dir: the dataset folder to create.
        openface_csv: an OpenFace CSV with ``AU45_r`` to use instead of our own AU45 estimate.
        features: audio feature kinds to store (any of :data:`talkface_lite.audio.KINDS`).
        overwrite: replace a dataset already at ``out_dir``.
        audio_path: take the speech from this file instead of the video's audio stream.
        max_size: longer image side after downscaling (pixels).
        focal: focal length in pixels (default: the longer side, see :func:`pose.default_intrinsics`).
        workers: processes for landmark detection.
        redetect_every: run the face detector at least every this many frames.
        min_detection_rate: refuse clips with a face in fewer frames than this share.
        val_fraction: tail of the clip held out for validation.
        pose_sigma: temporal smoothing of head poses (frames).
        import_features: pre-extracted features to store as well, kind -> ``.npy`` path
            (e.g. ``{"deepspeech": "aud_ds.npy"}``), checked against the frame count before writing.
        progress: tqdm bars.
        au45_source: where AU45 comes from: ``"auto"`` (an OpenFace CSV when given, else MediaPipe's eyelids
            when the ``blink`` extra is installed, else dlib's eye aspect ratio), ``"ear"``, ``"mediapipe"``
            or ``"openface"`` (needs ``openface_csv``); see :mod:`talkface_lite.eye_state`.

    Returns:
        The :class:`PrepareReport` (also stored in ``meta.json`` under ``extra.prepare``).

    Raises:
        FileNotFoundError, talkface_lite.data.video.codec.VideoError, talkface_lite.audio.NoAudioStreamError,
        FileExistsError, ValueError: inputs it cannot use, each with the reason (all checked before decoding
        where the arguments and files can tell). ImportError: dlib, or MediaPipe asked for, is missing.

    Explained in README.md ("Preparing your own video").
    """
    clock = time.perf_counter()
    timings = {}

    def lap(name):
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 3)
        clock = now

    out = Path(out_dir).resolve()
    check_arguments(max_size, focal, workers, redetect_every, min_detection_rate, val_fraction, pose_sigma)
    _check_au45_source(au45_source, openface_csv)
    leftover_notes = clean_leftovers(out.parent, out.name)
    try:
        _ds.check_output_folder(out, overwrite)
    except (FileExistsError, NotADirectoryError, ValueError) as exc:
        if leftover_notes:  # say what was cleaned or restored even though this run stops here
            raise type(exc)("; ".join(leftover_notes) + f". {exc}") from None
        raise
    info = _video.probe(video)
    if not info.has_audio and audio_path is None:
        raise _audio.NoAudioStreamError(
            f"{video} has no audio stream: a talking head is driven by the speech in the clip. Mux it in "
            f"({MUX_HINT}) or pass --audio speech.wav."
        )
    _audio.check_kinds(features)
    if not features and not import_features:
        raise ValueError(
            f"no audio features to store: give at least one kind (--features {','.join(_audio.KINDS)}) "
            "or --import-features; a dataset without them cannot drive a head"
        )
    table = None
    if openface_csv is not None:
        from .openface import load_openface_csv

        table = load_openface_csv(openface_csv)
        if table.timestamp is not None and info.video_seconds > 0:
            ok_t = table.timestamp[table.ok]
            overlap = max(0.0, min(ok_t.max(), info.video_seconds) - max(ok_t.min(), 0.0))
            if overlap < 0.5 * info.video_seconds:
                raise ValueError(
                    f"the OpenFace CSV {Path(openface_csv).name} covers {ok_t.min():.2f}-{ok_t.max():.2f} s but "
                    f"{Path(video).name} lasts {info.video_seconds:.2f} s: was it made from this clip? "
                    "Re-run FeatureExtraction on it, or leave out --openface-csv"
                )
    n = max(1, info.video_frames)
    imported_raw = {}
    for kind, npy in (import_features or {}).items():
        _ds.check_feature_kind(kind, features)
        if not Path(npy).is_file():
            raise FileNotFoundError(f"features to import ({kind}) {npy} do not exist")
        try:  # layout, NaN/inf and length now, against the video stream's frame count; exactly after decoding
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", _audio.AudioAdjustmentWarning)
                stored_d = _audio.load_feature_array(npy, n_frames=n).shape[2]
        except ValueError as exc:
            raise ValueError(f"{kind} features: {exc}") from None
        expected_d = _audio.FEATURE_DIMS.get(kind)
        if expected_d and stored_d != expected_d:
            raise ValueError(
                f"{npy} has {_audio.describe_dim(stored_d)} features per step, but {kind} features have "
                f"{expected_d}: import it under the kind it is (e.g. "
                f"{'hubert' if stored_d == 1024 else 'deepspeech' if stored_d == 29 else 'mine'}={npy})"
            )
        imported_raw[kind] = npy
    w, h = _video.output_size(*info.display_size, max_size)
    # decoded frames go to a memmap beside the output (n*w*h*3 bytes) until the dataset (~2.5 bytes/px) is written
    require_room(
        f"{Path(video).name} ({n} frames at {w}x{h})",
        memory_bytes=n * 68 * 2 * 4 * 4,
        disk_bytes=int(n * w * h * 5.5),
        out_dir=out,
        fix="trim the clip or lower --max-size",
    )
    report = PrepareReport(source=str(video), input_fps=info.fps, input_size=(info.width, info.height))
    report.notes += leftover_notes
    speech_source = audio_path if audio_path is not None else video
    with _notes_into(report):
        try:
            speech = _audio.load_audio(speech_source, align_start=audio_path is None)
        except _audio.NoAudioStreamError:
            if audio_path is None:
                raise
            raise _audio.NoAudioStreamError(
                f"--audio {audio_path} has no audio stream: give a file with the "
                "speech (wav, mp3, m4a, or a video with sound)"
            ) from None
    if audio_path is None and info.audio_start >= 1 / _video.TARGET_FPS:
        report.notes.append(
            f"the audio stream starts {info.audio_start:.2f} s into the file: kept at that time "
            "(silence before it), as a player plays it with the video"
        )
    _audio.require_speech(
        speech,
        str(speech_source),
        "A talking head is driven by the speech in the clip: "
        f"pass the recording's speech with --audio speech.wav, or mux it in ({MUX_HINT}).",
    )
    report.audio_seconds = round(len(speech) / _audio.SAMPLE_RATE, 3)
    _check_audio_coverage(speech, n, speech_source, video)  # from the header; again exactly after decoding
    lap("audio")
    out.parent.mkdir(parents=True, exist_ok=True)
    decoded = _video.decode(
        video, max_size=max_size, workdir=out.parent, progress=progress, info=info, prefix=decode_prefix()
    )
    try:
        lap("decode")
        report.n_frames, report.output_size = decoded.n_frames, decoded.size
        report.notes += decoded.notes()
        if decoded.n_frames < 25:
            raise _video.VideoError(f"{video} decodes to only {decoded.n_frames} frames (< 1 s at 25 fps): too short")
        _check_audio_coverage(speech, decoded.n_frames, speech_source, video)
        speech, fit = _audio.fit_to_frames(speech, decoded.n_frames)
        report.frames_without_audio = fit.frames_without_audio
        report.audio_padded_seconds, report.audio_trimmed_seconds = fit.padded_seconds, fit.trimmed_seconds
        report.notes += fit.notes(f"the audio of {Path(speech_source).name}")
        with _notes_into(report):
            imported = {
                kind: _audio.load_feature_array(npy, n_frames=decoded.n_frames) for kind, npy in imported_raw.items()
            }
        tracking = track_landmarks(decoded.frames, workers=workers, redetect_every=redetect_every, progress=progress)
        lm2d, report.detector_calls = tracking.landmarks, tracking.detector_calls
        report.multi_face_frames = tracking.multi_face_frames
        if tracking.multi_face_frames:
            report.notes.append(
                f"a second face was seen in {tracking.multi_face_frames} detector frames: the face "
                "nearest the one followed so far was kept (the largest at the start). If that is "
                "not the speaker, crop the clip to the speaker"
            )
        lap("landmarks")
        report.detected_frames = int(np.isfinite(lm2d).all(axis=(1, 2)).sum())
        if report.detection_rate < min_detection_rate:
            raise _video.VideoError(
                f"a face was found in only {report.detected_frames} of {report.n_frames} frames "
                f"({100 * report.detection_rate:.0f} % < {100 * min_detection_rate:.0f} %): `prepare` needs one "
                "visible, roughly frontal face in most frames. Trim the clip to the part with the speaker's face, "
                "or check that the face is at least ~60 px wide after downscaling (--max-size)."
            )
        lm2d, report.interpolated_runs = interpolate_missing(lm2d)
        if report.interpolated_runs:
            spans = ", ".join(
                f"{a / _video.TARGET_FPS:.2f}-{b / _video.TARGET_FPS:.2f} s" for a, b in report.interpolated_runs[:4]
            )
            more = f" and {len(report.interpolated_runs) - 4} more" if len(report.interpolated_runs) > 4 else ""
            report.notes.append(
                f"no face in {report.interpolated_frames} frames ({spans}{more}): landmarks "
                "interpolated from neighbours"
            )
        h, w = decoded.frames.shape[1:3]
        K = _pose.default_intrinsics(h, w, focal)
        rot, trans, rms, face = _pose.estimate_poses(lm2d, K, sigma=pose_sigma)
        report.pnp_rms_px = round(float(np.median(rms)), 3)
        lm3d = _pose.backproject_landmarks(lm2d, rot, trans, K, face)
        near, far = _pose.near_far(trans)
        lap("pose")
        pitch = np.arcsin(np.clip(rot[:, 1, 2], -1.0, 1.0))  # elevation of the face normal in the camera frame
        missing = 0
        if table is not None:
            from .openface import align_au45

            au45, notes, missing = align_au45(table, decoded.n_frames)
        if table is None or missing:  # our own estimate: the AU45, or what fills the frames the CSV lacks
            wanted = "auto" if table is not None else au45_source
            estimate, used = _eyes.au45_from_video(decoded.frames, lm2d, source=wanted, pitch=pitch, progress=progress)
            if used == "ear" and wanted in ("auto", "mediapipe") and _eyes.mediapipe_available():
                report.notes.append(
                    "MediaPipe found the face in fewer than half of the frames: AU45 from dlib's eye "
                    "aspect ratio instead (weaker on blinks; see README, measured numbers)"
                )
            report.au45_source, report.au45_method = _AU45_LABELS[used], used
        if table is not None:
            if missing:
                au45, notes, _ = align_au45(
                    table, decoded.n_frames, fallback=estimate, fallback_name=_AU45_LABELS[used]
                )
            report.notes += notes
            report.au45_estimated_frames, report.au45_method = missing, "openface"
            report.au45_source = f"OpenFace CSV {Path(openface_csv).name}" + (
                f" ({missing} frames from {_AU45_LABELS[used]})" if missing else ""
            )
        else:
            au45 = estimate
        report.blinks = [(int(a), int(b)) for a, b, _ in _eyes.detect_blinks(au45)]
        lap("au45")
        report.output = str(out)
        rec = _ds.SpeakerRecording(
            frames=decoded.frames,
            audio=speech,
            intrinsics=K,
            poses=_pose.head_to_c2w(rot, trans),
            landmarks=lm3d,
            landmarks2d=lm2d,
            au45=au45,
            fps=_video.TARGET_FPS,
            background=None,
            near=near,
            far=far,
            source=str(Path(video).resolve()),
            extra={"prepare": {}},
        )
        rec.extra["prepare"] = json.loads(json.dumps(report.to_dict()))
        _ds.write_dataset(
            rec,
            out,
            features=features,
            val_fraction=val_fraction,
            overwrite=overwrite,
            progress=progress,
            extra_features=imported,
        )
        lap("write")
    finally:
        decoded.close()
    report.timings = timings
    return report


__all__ = ["AU45_SOURCES", "PrepareReport", "Tracking", "interpolate_missing", "prepare_video", "track_landmarks"]
