"""Tests for talkface_lite.eye_state: the temporal model, the sources, and blinks against the synthetic truth.

The looking-down episodes of the synthetic speaker (eyes open, lids lowered, head pitched down; true AU45
0) are what an eye-openness blink detector most often counts as long blinks; these tests pin that they
are not, with expected values from the generator's truth.
"""

import numpy as np
import pytest

from talkface_lite import eye_state as E
from talkface_lite import landmarks as L
from talkface_lite.data import synthetic as S


def test_temporal_model_keeps_blinks_and_drops_longer_closures_by_hand():
    fps = 25.0
    openness = np.full(300, 0.30)
    openness[20:25] = 0.05  # a 200 ms blink
    for start, length in ((60, 13), (100, 25), (150, 50)):  # looking down for 0.52, 1.0 and 2.0 s
        openness[start : start + length] = 0.15
    openness[160:165] = 0.04  # a blink while looking down
    au = E.au45_from_openness(openness, "ear", fps)
    events = E.detect_blinks(au)
    assert [tuple(e[:2]) for e in events] == [(20, 25), (160, 165)]
    # the blink (fully closed: AU45 5) reads as its height above the lowered-lid level 5 * 0.15 / (0.30 * 0.85)
    assert au[162] == pytest.approx(5 - 5 * (0.30 - 0.15) / (0.30 * (1 - L.CLOSED_EAR_FRACTION)), rel=1e-6)
    assert au[:20].max() == 0 and au[60:150].max() == 0  # open, and 0.5-1 s looks down: AU45 0


def test_blink_component_by_hand():
    a = np.zeros(40)
    a[5:9] = 5.0  # 4 frames: a blink
    a[20:35] = 2.0  # 15 frames (0.6 s at 25 fps): not a blink
    out = E.blink_component(a, fps=25.0)
    np.testing.assert_allclose(out[5:9], 5.0)
    assert out[20:35].max() == 0.0 and out[:5].max() == 0.0


def test_pitch_is_undone():
    openness = np.full(50, 0.3)
    pitch = np.zeros(50)
    pitch[30:] = np.deg2rad(25)  # a face pitched 25 degrees shows its eyes cos(25) as tall
    openness[30:] *= np.cos(pitch[30:])
    with_pitch = E.au45_from_openness(openness, "ear", pitch=pitch)
    np.testing.assert_allclose(with_pitch, 0.0, atol=1e-9)


def test_detect_blinks_and_matching_by_hand():
    au = np.array([0, 0, 3, 4, 0, 3, 0, 0, 0, 0, 5, 5, 0], float)
    events = E.detect_blinks(au)
    assert events.tolist() == [[2, 4, 3], [5, 6, 5], [10, 12, 10]]  # [onset, offset (exclusive), peak]
    true = np.array([[3, 4, 3], [30, 31, 30]])
    assert E.match_blinks(events, true) == (pytest.approx(1 / 3), 0.5)  # blink 3 is matched once (event 1)
    assert E.match_blinks(events[:0], true) == (1.0, 0.0)
    # one-to-one: one long event over two blinks, or two events on one blink, count once
    two = np.array([[10, 11, 10], [14, 15, 14]])
    assert E.match_blinks(np.array([[9, 16, 12]]), two) == (1.0, 0.5)
    assert E.match_blinks(two, np.array([[12, 13, 12]])) == (0.5, 1.0)


def test_sources_and_errors():
    with pytest.raises(ValueError, match="unknown AU45 source 'eyes'"):
        E.au45_from_video(np.zeros((3, 8, 8, 3), np.uint8), np.zeros((3, 68, 2)), source="eyes")
    with pytest.raises(ValueError, match="finite value"):
        E.au45_from_openness(np.full(5, np.nan), "ear")
    with pytest.raises(ValueError, match=r"pitch must be \(5,\)"):
        E.au45_from_openness(np.ones(5), "ear", pitch=np.zeros(4))
    with pytest.raises(ValueError, match="source must be one of ear, mediapipe here, got 'auto'"):
        E.au45_from_openness(np.ones(5), "auto")
    with pytest.raises(ValueError, match="au45 holds 1 NaN/inf values of 3"):
        E.detect_blinks(np.array([0.0, np.nan, 4.0]))


def test_looking_down_for_half_a_second_to_two_seconds_is_never_a_blink():
    """The true landmarks of a 60 s synthetic speaker with looking-down episodes, through the EAR source."""
    script = S.make_script(60.0, seed=1, gaze=True)
    model, _, _ = S.build_speaker_model(64, seed=1)
    lm = np.stack([model.landmarks(s)[:, :2] for s in script.states])  # (T, 68, 2), head frame x/y
    assert len(script.gaze) >= 4 and all(0.5 <= g.duration <= 2.0 for g in script.gaze)
    au = E.au45_from_landmarks(lm, fps=25.0)
    found, true = E.detect_blinks(au), E.detect_blinks(script.au45)
    for g in script.gaze:  # every event inside a look down is a real blink
        inside = [f for f in found if g.start * 25 <= f[2] < (g.start + g.duration) * 25]
        assert all(E.match_blinks(f[None], true)[0] == 1.0 for f in inside), (g, inside)
    assert E.match_blinks(found, true) == (1.0, 1.0)
    # without the temporal model every look down would be a long "blink"
    plain = E.detect_blinks(L.au45_from_ear(L.eye_aspect_ratio(lm), closed_fraction=L.CLOSED_EAR_FRACTION))
    assert sum(f[1] - f[0] > 12 for f in plain) >= len(script.gaze) - 1


@pytest.fixture(scope="module")
def gaze_clip():
    from talkface_lite.data.video.face_detect import dlib_available

    if not E.mediapipe_available() or not dlib_available():
        pytest.skip("MediaPipe (the blink extra) or dlib is not installed")
    rec = S.generate_speaker(seconds=20, size=256, seed=0, progress=False, workers=2, gaze=True)
    from talkface_lite.data.video.prepare import track_landmarks

    return rec, track_landmarks(rec.frames, workers=1, progress=False).landmarks


def test_mediapipe_blinks_on_the_synthetic_speaker_with_looks_down(gaze_clip):
    rec, lm = gaze_clip
    au, used = E.au45_from_video(rec.frames, lm, source="auto")
    assert used == "mediapipe"
    found, true = E.detect_blinks(au), E.detect_blinks(rec.au45)
    assert len(true) == 7 and len(rec.extra["gaze"]) == 2
    precision, recall = E.match_blinks(found, true)
    assert precision >= 0.9 and recall >= 0.9
    assert np.corrcoef(au, rec.au45)[0, 1] >= 0.8
