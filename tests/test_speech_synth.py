"""Tests for talkface_lite.data.synthetic.speech_synth: utterances and the formant synthesiser."""

import numpy as np
import pytest

from talkface_lite.data.synthetic import speech_synth as S
from talkface_lite.data.synthetic.speech_synth import Segment


def test_utterance_tiles_the_clip_with_known_phones():
    segs = S.random_utterance(8.0, np.random.default_rng(0))
    assert segs[0].start == 0.0 and segs[0].phone == "SIL" and segs[-1].phone == "SIL"
    assert segs[-1].end == pytest.approx(8.0)
    for a, b in zip(segs[:-1], segs[1:]):
        assert b.start == pytest.approx(a.end)
    assert all(s.phone in S.PHONES and s.duration > 0 for s in segs)
    vowels = [s for s in segs if S.PHONES[s.phone].kind == "vowel"]
    assert 2.0 < len(vowels) / 8.0 < 7.0  # a speaking rate of a few syllables per second
    with pytest.raises(ValueError, match="seconds"):
        S.random_utterance(0.0, np.random.default_rng(0))


def test_same_generator_state_gives_identical_audio():
    a = S.synthesize(S.random_utterance(3.0, np.random.default_rng(5)), 3.0, np.random.default_rng(6))
    b = S.synthesize(S.random_utterance(3.0, np.random.default_rng(5)), 3.0, np.random.default_rng(6))
    assert a.dtype == np.float32 and a.shape == (48000,)
    assert a.tobytes() == b.tobytes()
    assert np.abs(a).max() == pytest.approx(0.8, rel=1e-4)


def _spectrum(x, sr=16000):
    mag = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return np.fft.rfftfreq(len(x), 1 / sr), mag


def test_vowel_energy_sits_at_its_first_formant_and_s_is_high_frequency():
    segs = [
        Segment("SIL", 0.0, 0.2),
        Segment("AA", 0.2, 0.8, phrase=0),
        Segment("SIL", 1.0, 0.2),
        Segment("S", 1.2, 0.6, phrase=1),
        Segment("SIL", 1.8, 0.2),
    ]
    y = S.synthesize(segs, 2.0, np.random.default_rng(0), base_f0=120.0)
    f, m = _spectrum(y[int(0.4 * 16000) : int(0.9 * 16000)])
    # AA: F1 = 730 Hz; the strongest harmonic region lies between 500 and 1200 Hz
    assert 500 < f[np.argmax(m)] < 1200
    f, m = _spectrum(y[int(1.3 * 16000) : int(1.7 * 16000)])
    assert m[f > 3500].sum() > 3 * m[f < 3500].sum()  # /s/ noise band 3.5-7.5 kHz
    # silence is (almost) silent
    assert np.sqrt(np.mean(y[:3000] ** 2)) < 0.01
