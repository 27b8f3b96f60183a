"""Tests for talkface_lite.data.synthetic.visemes: targets reached, bilabial closure, coarticulation."""

import numpy as np
import pytest

from talkface_lite.data.synthetic.speech_synth import Segment
from talkface_lite.data.synthetic.visemes import VISEME_TARGETS, phone_at, viseme_tracks


def _segs(*spec):
    out, t = [], 0.0
    for ph, d in spec:
        out.append(Segment(ph, t, d))
        t += d
    return out


def test_long_phones_reach_their_targets():
    segs = _segs(("SIL", 0.5), ("AA", 0.6), ("UW", 0.6), ("SIL", 0.5))
    x = viseme_tracks(segs, np.array([0.8, 1.4]))
    np.testing.assert_allclose(x[0], VISEME_TARGETS["AA"], atol=0.03)
    np.testing.assert_allclose(x[1], VISEME_TARGETS["UW"], atol=0.03)


def test_bilabial_closes_the_mouth_between_open_vowels():
    segs = _segs(("AA", 0.3), ("M", 0.08), ("AA", 0.3))
    jaw = viseme_tracks(segs, np.array([0.34]))[0, 0]
    assert jaw < 0.15  # the lips must meet for /m/ even between two open vowels


def test_short_phone_is_coarticulated():
    # a 40 ms /iy/ between two /uw/: spread moves towards its target but does not reach it
    segs = _segs(("UW", 0.3), ("IY", 0.04), ("UW", 0.3))
    spread = viseme_tracks(segs, np.array([0.32]))[0, 1]
    assert VISEME_TARGETS["UW"][1] < spread < VISEME_TARGETS["IY"][1] - 0.1


def test_shapes_and_errors():
    segs = _segs(("SIL", 1.0))
    assert viseme_tracks(segs, np.arange(25) / 25).shape == (25, 3)
    assert phone_at(_segs(("SIL", 0.1), ("AA", 0.2)), np.array([0.05, 0.15])) == ["SIL", "AA"]
    with pytest.raises(ValueError, match="empty"):
        viseme_tracks([], np.zeros(3))
