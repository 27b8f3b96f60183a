"""Tests for talkface_lite.models.blink (detection, statistics, generation, eye-movement prediction)."""

import numpy as np
import pytest
import torch
from landmark_fixtures import toy_speaker

from talkface_lite.models.blink import (
    BlinkGenerator,
    BlinkModel,
    BlinkStatistics,
    detect_blinks,
    eye_condition,
    fixed_period_blinks,
    ks_report,
)
from talkface_lite.training.landmark_models import evaluate_blink_model, train_blink_model


def test_detect_blinks_hand_example():
    au = np.zeros(20)
    au[3:6] = [2, 4, 1.5]  # blink 1: frames 3..5, peak at 4
    au[10] = 0.9  # below threshold 1.0: not a blink
    au[15:20] = [1.2, 5, 5, 3, 2]  # blink 2 runs to the end; first peak frame 16
    ev = detect_blinks(au)
    assert ev.tolist() == [[3, 6, 4], [15, 20, 16]]
    assert detect_blinks(np.zeros(5)).shape == (0, 3)
    with pytest.raises(ValueError, match=r"\(T,\)"):
        detect_blinks(np.zeros((4, 2)))


def test_statistics_from_a_regular_sequence():
    au = np.zeros(1000)
    for on in range(50, 1000 - 10, 100):  # 10 blinks, 4 frames above threshold, every 100 frames
        au[on : on + 4] = [2, 5, 4, 2]
    s = BlinkStatistics.from_au45(au, fps=25.0)
    assert len(s.durations_s) == 10 and np.allclose(s.durations_s, 4 / 25)
    assert np.allclose(s.intervals_s, 4.0)
    assert abs(s.rate_per_min - 15.0) < 1e-9  # 10 blinks in 40 s
    assert s.baseline == 0.0 and np.isclose(s.profile.max(), 1.0, atol=0.15)


def test_generator_reproduces_speaker_statistics():
    rng = np.random.default_rng(0)
    au, t = np.zeros(25 * 600), 30
    while t < len(au) - 20:  # log-normal intervals (median 3 s) and 3..7-frame blinks
        d = int(rng.integers(3, 8))
        au[t : t + d + 2] = np.r_[1.5, np.full(d, 4.5), 1.5][: d + 2]
        t += int(25 * rng.lognormal(np.log(3.0), 0.4)) + d
    real = BlinkStatistics.from_au45(au)
    gen = BlinkStatistics.from_au45(BlinkGenerator(real).generate(25 * 1200, np.random.default_rng(1)))
    assert abs(gen.rate_per_min - real.rate_per_min) / real.rate_per_min < 0.15
    ks = ks_report(real, gen)
    assert ks["interval"]["ks"] < 0.15 and ks["duration"]["ks"] < 0.3
    # a fixed period is far from the speaker's intervals
    fixed = BlinkStatistics.from_au45(fixed_period_blinks(25 * 600))
    assert ks_report(real, fixed)["interval"]["ks"] > 0.5  # ~0.76 of log-normal(median 3 s, 0.4) intervals are < 4 s


def test_generator_uses_prior_without_blinks_and_stays_in_range():
    s = BlinkStatistics.from_au45(np.zeros(250))
    au = BlinkGenerator(s).generate(25 * 120, np.random.default_rng(0))
    assert au.shape == (3000,) and au.min() >= 0 and au.max() <= 5
    n = len(detect_blinks(au))
    assert 15 <= n <= 60  # prior: median interval 3.5 s over 2 minutes
    with pytest.raises(ValueError, match="n_frames"):
        BlinkGenerator(s).generate(0)


def test_fixed_period_profile_positions():
    au = fixed_period_blinks(210, period=100, peak=5.0)
    assert np.allclose(au[100:107], 5 * np.array([0.1, 0.5, 0.7, 1.0, 0.7, 0.5, 0.1]))
    assert au[:100].sum() == 0 and np.isclose(au[200:207].max(), 5.0)


def test_ks_report_identical_is_zero():
    au = np.zeros(2000)
    au[100:105] = 4
    au[700:703] = 4
    au[1500:1506] = 4
    s = BlinkStatistics.from_au45(au)
    ks = ks_report(s, s)
    assert ks["duration"]["ks"] == 0.0 and ks["interval"]["ks"] == 0.0 and ks["rate"]["ks"] == 0.0


def test_eye_condition_scale():
    assert torch.allclose(eye_condition([0.0, 2.5, 5.0, 7.0]), torch.tensor([[0.0], [0.5], [1.0], [1.0]]))


def test_blink_model_beats_persistence_on_stereotyped_blinks():
    torch.manual_seed(0)
    train, test = toy_speaker(T=800, seed=0), toy_speaker(T=400, seed=3)
    m = BlinkModel(audio_dim=train.dim, cond_dim=8, hidden=32)
    hist = train_blink_model(m, train, steps=300, seq_len=60, batch_size=8, progress=False)
    assert hist["total"][-1] < hist["total"][0]
    res = evaluate_blink_model(m, test)
    assert len(res["pred"]) == 399
    assert res["au45_mae"] < res["persistence_mae"]
