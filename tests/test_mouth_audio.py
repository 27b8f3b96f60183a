"""Mouth-vs-audio agreement without a true mouth (talkface_lite.mouth_audio): every figure by hand."""

import numpy as np
import pytest

from talkface_lite import mouth_audio as MA


def test_loudness_envelope_by_hand():
    audio = np.full(16000, 0.5)  # 1 s at 0.5 -> 25 frames
    env = MA.loudness_envelope(audio, 25)
    assert env.shape == (25,)
    assert env[1:-1] == pytest.approx(np.full(23, 0.5))
    assert env[0] == pytest.approx(np.sqrt(0.25 / 2))  # frame 0's window is half before the clip (zeros)
    with pytest.raises(ValueError, match="mono"):
        MA.loudness_envelope(np.zeros((10, 2)), 1)


def test_pauses_are_long_quiet_runs_only():
    env = np.array([1.0] * 10 + [1e-3] * 5 + [1.0] * 3 + [1e-3] * 2 + [1.0] * 10)
    pauses = MA.pause_frames(env)
    assert pauses[10:15].all() and pauses.sum() == 5  # the 2-frame dip is a stop closure, not a pause


def test_lag_of_peak_recovers_a_known_shift():
    rng = np.random.default_rng(0)
    env = np.convolve(rng.random(200), np.ones(3) / 3, mode="same")
    assert MA.lag_of_peak(np.roll(env, 2), env) == 2  # the mouth moves two frames after the sound
    assert MA.lag_of_peak(np.roll(env, -3), env) == -3
    assert MA.lag_of_peak(env, env) == 0


def test_agreement_of_a_mouth_that_is_the_envelope():
    t = np.arange(16000 * 4) / 16000
    audio = np.sin(2 * np.pi * 150 * t) * ((t % 1.0) < 0.6)  # 600 ms of voice, 400 ms pause, each second
    env = MA.loudness_envelope(audio, 100)
    got = MA.mouth_audio_agreement(env, audio, rest=0.0)
    assert got["loudness_corr"] == pytest.approx(1.0) and got["lag_frames"] == 0
    assert got["pause_open_ratio"] == pytest.approx(0.0, abs=1e-6) and got["pause_frames"] >= 4 * 6
    stuck_open = MA.mouth_audio_agreement(np.ones(100) + 0.01 * env, audio, rest=0.0)
    assert stuck_open["pause_open_ratio"] > 0.95  # a mouth that never closes
    with pytest.raises(ValueError, match="opening must be"):
        MA.mouth_audio_agreement(np.ones(5), audio)


def test_agreement_refuses_what_it_cannot_measure():
    t = np.arange(16000 * 4) / 16000
    audio = np.sin(2 * np.pi * 150 * t) * ((t % 1.0) < 0.6)
    with pytest.raises(ValueError, match="covers 100.0 frames at 25 fps but the mouth has 250"):
        MA.mouth_audio_agreement(np.ones(250), audio)
    with pytest.raises(ValueError, match="silent"):
        MA.mouth_audio_agreement(np.arange(100.0), np.zeros(64000))
    with pytest.raises(ValueError, match="NaN"):
        MA.mouth_audio_agreement(np.full(100, np.nan), audio)
    frozen = MA.mouth_audio_agreement(np.ones(100), audio)
    assert frozen["loudness_corr"] == 0.0 and frozen["lag_frames"] is None
