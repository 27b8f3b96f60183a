"""Tests for talkface_lite.data.synthetic.blinks: profile shape, natural statistics, measurement."""

import numpy as np
import pytest

from talkface_lite.data.synthetic import blinks as B
from talkface_lite.eye_state import BlinkStatistics


def test_profile_is_asymmetric_fast_close_slow_open():
    u = np.array([0.0, 0.15, 0.3, 0.65, 1.0, 1.2])
    np.testing.assert_allclose(B.blink_profile(u), [0.0, 0.5, 1.0, 0.5, 0.0, 0.0], atol=1e-12)
    # half closed 15 % into the blink, half open again only at 65 %: closing is faster
    assert B.blink_profile(0.1) > B.blink_profile(0.9)


def test_blink_statistics_hand_computed():
    # 10 fps; frames 2 and 3 are above the threshold (1.0): one blink of 2 frames = 200 ms, onset at frame 2
    stats = BlinkStatistics.from_au45(np.array([0.0, 0.0, 2.0, 2.0, 0.0, 0.0]), fps=10.0)
    assert len(stats.durations_s) == 1 and stats.onsets.tolist() == [2]
    np.testing.assert_allclose(stats.durations_s, [0.2])
    assert stats.rate_per_min == pytest.approx(1 / (0.6 / 60))
    assert stats.summary() == "1 blinks, 100.0/min, durations 200-200 ms (mean 200)"


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_generated_blinks_have_natural_rate_and_duration_at_25fps(seed):
    rng = np.random.default_rng(seed)
    events = B.sample_blinks(60.0, rng)
    au = B.au45_trace(events, np.arange(1500) / 25.0)
    assert 0.0 <= au.min() and au.max() <= 5.0
    stats = BlinkStatistics.from_au45(au, fps=25.0)
    assert len(stats.durations_s) == len(events)
    assert 10 <= stats.rate_per_min <= 25
    assert stats.durations_s.min() >= 0.1 and stats.durations_s.max() <= 0.4
    starts = np.array([e.start for e in events])
    ends = starts + np.array([e.duration for e in events])
    assert np.all(starts[1:] > ends[:-1])  # never overlapping


def test_explicit_rate_and_bad_rate():
    rng = np.random.default_rng(0)
    assert len(B.sample_blinks(60.0, rng, rate_per_min=20)) in range(17, 22)
    with pytest.raises(ValueError, match="rate_per_min"):
        B.sample_blinks(10.0, rng, rate_per_min=0)
