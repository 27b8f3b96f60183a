"""Speech-like audio from a phone sequence: a small source-filter (formant) synthesiser.

The synthetic speaker talks in nonsense syllables of English-like phones
(:data:`PHONES`). One random *utterance* (:func:`random_utterance`, phrases of
CV / CVC / CCV syllables with stress, separated by pauses) drives both the
audio (here) and the mouth (:mod:`talkface_lite.data.synthetic.visemes`), so the audio
really predicts the lips, as in a recording.

The synthesiser is the classic Klatt-style cascade, kept small:

* **source**: a Rosenberg glottal pulse train at F0, with per-period jitter
  (frequency) and shimmer (amplitude), differentiated for lip radiation;
  aspiration noise for /h/; three fixed noise bands for fricatives and bursts;
* **prosody**: per phrase, F0 declines from ~1.15x to ~0.85x the speaker's
  base pitch, stressed vowels get an accent (+12 %), phrase ends fall;
* **filter**: three time-varying 2-pole resonators (F1-F3 with bandwidths)
  in cascade, coefficients updated every 5 ms; formant targets are smoothed
  across phone boundaries (acoustic coarticulation);
* the result is normalised to a 0.8 peak, float32 at 16 kHz.

Everything random comes from the generators passed in, so a seed gives
byte-identical audio.

Explained in notebooks/00_setup_and_tour.ipynb.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Tuple

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.signal import butter, lfilter, sosfilt

SAMPLE_RATE = 16000
BLOCK = 80  # samples per filter-coefficient update (5 ms)


@dataclass(frozen=True)
class Phone:
    """Acoustic target of one phone: formants (Hz), voicing and noise amplitudes, noise band index."""

    kind: str  # vowel | stop | fricative | nasal | approximant | aspirate | silence
    formants: Tuple[float, float, float]
    voice: float  # glottal source amplitude
    noise: float  # frication / burst amplitude
    band: int = 0  # 0: 1.2-4 kHz (sh, f), 1: 3.5-7.5 kHz (s, z), 2: 0.4-7 kHz (h, th, bursts)


_V = "vowel"
PHONES = {
    "AA": Phone(_V, (730, 1090, 2440), 1.0, 0.0),
    "AE": Phone(_V, (660, 1720, 2410), 1.0, 0.0),
    "AH": Phone(_V, (520, 1190, 2390), 0.95, 0.0),
    "AO": Phone(_V, (570, 840, 2410), 1.0, 0.0),
    "EH": Phone(_V, (530, 1840, 2480), 0.95, 0.0),
    "IH": Phone(_V, (390, 1990, 2550), 0.85, 0.0),
    "IY": Phone(_V, (270, 2290, 3010), 0.8, 0.0),
    "UH": Phone(_V, (440, 1020, 2240), 0.85, 0.0),
    "UW": Phone(_V, (300, 870, 2240), 0.8, 0.0),
    "ER": Phone(_V, (490, 1350, 1690), 0.9, 0.0),
    "OW": Phone(_V, (500, 900, 2400), 0.95, 0.0),
    "EY": Phone(_V, (480, 2000, 2600), 0.9, 0.0),
    "AY": Phone(_V, (660, 1500, 2500), 1.0, 0.0),
    "P": Phone("stop", (400, 1100, 2300), 0.0, 0.35, 2),
    "B": Phone("stop", (300, 1000, 2300), 0.12, 0.2, 2),
    "T": Phone("stop", (400, 1700, 2600), 0.0, 0.4, 1),
    "D": Phone("stop", (300, 1700, 2600), 0.12, 0.25, 1),
    "K": Phone("stop", (400, 1900, 2500), 0.0, 0.35, 0),
    "G": Phone("stop", (300, 1900, 2500), 0.12, 0.2, 0),
    "F": Phone("fricative", (400, 1100, 2300), 0.0, 0.18, 2),
    "V": Phone("fricative", (300, 1100, 2300), 0.25, 0.12, 2),
    "S": Phone("fricative", (400, 1700, 2600), 0.0, 0.45, 1),
    "Z": Phone("fricative", (300, 1700, 2600), 0.25, 0.3, 1),
    "SH": Phone("fricative", (400, 1800, 2500), 0.0, 0.45, 0),
    "TH": Phone("fricative", (400, 1400, 2500), 0.0, 0.15, 2),
    "M": Phone("nasal", (250, 1200, 2300), 0.45, 0.0),
    "N": Phone("nasal", (250, 1600, 2500), 0.45, 0.0),
    "L": Phone("approximant", (360, 1300, 2900), 0.7, 0.0),
    "R": Phone("approximant", (420, 1300, 1600), 0.7, 0.0),
    "W": Phone("approximant", (300, 610, 2200), 0.65, 0.0),
    "Y": Phone("approximant", (270, 2200, 3000), 0.65, 0.0),
    "HH": Phone("aspirate", (500, 1500, 2500), 0.0, 0.2, 2),
    "SIL": Phone("silence", (500, 1500, 2500), 0.0, 0.0),
}
VOWELS = [p for p, v in PHONES.items() if v.kind == _V]
ONSETS = ["P", "B", "T", "D", "K", "G", "F", "V", "S", "Z", "SH", "TH", "M", "N", "L", "R", "W", "Y", "HH"]
CODAS = ["P", "T", "K", "D", "S", "Z", "M", "N", "L", "R", "F"]
CLUSTERS = [("S", "T"), ("P", "L"), ("B", "R"), ("K", "L"), ("T", "R"), ("S", "M"), ("F", "L"), ("G", "R")]
_DUR = {
    "vowel": (0.09, 0.16),
    "stop": (0.06, 0.09),
    "fricative": (0.08, 0.12),
    "nasal": (0.06, 0.09),
    "approximant": (0.05, 0.08),
    "aspirate": (0.05, 0.07),
}


@dataclass(frozen=True)
class Segment:
    """One phone of an utterance: name, start and duration (s), stress (vowels), phrase index."""

    phone: str
    start: float
    duration: float
    stress: bool = False
    phrase: int = -1

    @property
    def end(self) -> float:
        return self.start + self.duration

    @property
    def centre(self) -> float:
        return self.start + 0.5 * self.duration


def random_utterance(seconds: float, rng: np.random.Generator, rate: float = 1.0) -> List[Segment]:
    """A phone sequence filling ``seconds``: phrases of 3-10 syllables separated by 0.2-0.7 s pauses.

    Args:
        seconds: total length (the last segment is a pause that ends exactly at ``seconds``).
        rng: random generator.
        rate: speaking-rate factor (> 1 faster).

    Returns:
        Contiguous segments covering [0, seconds].
    """
    if seconds <= 0:
        raise ValueError(f"seconds must be > 0, got {seconds}")
    segs: List[Segment] = []
    t = float(rng.uniform(0.15, 0.4))
    segs.append(Segment("SIL", 0.0, t))
    phrase = 0
    while True:
        syllables = []
        for _ in range(int(rng.integers(3, 11))):
            r = rng.uniform()
            onset = (
                list(CLUSTERS[rng.integers(len(CLUSTERS))])
                if r < 0.12
                else ([] if r < 0.25 else [ONSETS[rng.integers(len(ONSETS))]])
            )
            coda = [CODAS[rng.integers(len(CODAS))]] if rng.uniform() < 0.35 else []
            syllables.append((onset, VOWELS[rng.integers(len(VOWELS))], coda, bool(rng.uniform() < 0.35)))
        phrase_segs = []
        tt = t
        for onset, vowel, coda, stress in syllables:
            for ph in onset + [vowel] + coda:
                lo, hi = _DUR[PHONES[ph].kind]
                d = rng.uniform(lo, hi) * (1.35 if (stress and ph == vowel) else 1.0) / rate
                phrase_segs.append(Segment(ph, tt, float(d), stress and ph == vowel, phrase))
                tt += d
        pause = float(rng.uniform(0.2, 0.7))
        if tt + pause > seconds - 0.1:
            break
        segs.extend(phrase_segs)
        segs.append(Segment("SIL", tt, pause))
        t = tt + pause
        phrase += 1
    last = segs[-1]
    segs[-1] = Segment("SIL", last.start, seconds - last.start)
    return segs


def _tracks(segs: List[Segment], n: int, sr: int):
    """Per-sample piecewise-constant targets: F1-3, voice, noise per band, stop-burst shaping."""
    form = np.zeros((n, 3))
    voice = np.zeros(n)
    noise = np.zeros((n, 3))
    for s in segs:
        a, b = int(round(s.start * sr)), min(n, int(round(s.end * sr)))
        ph = PHONES[s.phone]
        form[a:b] = ph.formants
        voice[a:b] = ph.voice * (1.15 if s.stress else 1.0)
        if ph.kind == "stop":  # closure, then a short burst at the release
            burst = max(a, b - int(0.025 * sr))
            noise[burst:b, ph.band] = ph.noise
        elif ph.noise > 0:
            noise[a:b, ph.band] = ph.noise
    return form, voice, noise


def _f0_contour(segs: List[Segment], n: int, sr: int, base: float, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / sr
    f0 = np.full(n, base)
    phrases = {}
    for s in segs:
        if s.phrase >= 0:
            lo, hi = phrases.get(s.phrase, (s.start, s.end))
            phrases[s.phrase] = (min(lo, s.start), max(hi, s.end))
    for lo, hi in phrases.values():
        m = (t >= lo) & (t < hi + 0.2)
        prog = np.clip((t[m] - lo) / max(hi - lo, 1e-3), 0, 1)
        f0[m] = base * (1.15 - 0.3 * prog)
    for s in segs:
        if s.stress:
            f0 *= 1.0 + 0.12 * np.exp(-0.5 * ((t - s.centre) / 0.07) ** 2)
    drift = gaussian_filter1d(rng.standard_normal(n // 160 + 2), 3)[np.arange(n) // 160]
    return f0 * (1.0 + 0.02 * drift)


def _glottal_source(f0: np.ndarray, sr: int, rng: np.random.Generator, jitter=0.01, shimmer=0.05) -> np.ndarray:
    """Rosenberg pulses at ``f0`` (Hz per sample) with per-period jitter and shimmer; differentiated."""
    n_periods = int(np.sum(f0) / sr) + 2
    jit = 1.0 + jitter * rng.standard_normal(n_periods)
    shim = 1.0 + shimmer * rng.standard_normal(n_periods)
    inc = f0 / sr  # cycles per sample
    first = np.floor(np.cumsum(inc)).astype(int)  # period index without jitter
    inc = inc * jit[np.clip(first, 0, n_periods - 1)]  # each period runs a little fast or slow
    cum = np.cumsum(inc)
    period = np.floor(cum).astype(int)
    phase = cum - period  # position within the glottal cycle, [0, 1)
    op, cl = 0.40, 0.16
    g = np.where(
        phase < op,
        0.5 * (1 - np.cos(np.pi * phase / op)),
        np.where(phase < op + cl, np.cos(0.5 * np.pi * (phase - op) / cl), 0.0),
    )
    g = g * shim[np.clip(period, 0, n_periods - 1)]
    return np.diff(g, prepend=0.0)


def _resonator_cascade(x: np.ndarray, formants: np.ndarray, sr: int) -> np.ndarray:
    """Filter x through three 2-pole resonators whose frequencies follow ``formants`` (n, 3)."""
    bw = np.array([80.0, 110.0, 160.0])
    y = x.copy()
    for k in range(3):
        out = np.empty_like(y)
        zi = np.zeros(2)
        for a in range(0, len(y), BLOCK):
            f = formants[min(a + BLOCK // 2, len(y) - 1), k]
            r = np.exp(-np.pi * bw[k] / sr)
            a1, a2 = -2 * r * np.cos(2 * np.pi * f / sr), r * r
            gain = 1 + a1 + a2  # unit gain at DC
            out[a : a + BLOCK], zi = lfilter([gain], [1.0, a1, a2], y[a : a + BLOCK], zi=zi)
        y = out
    return y


def synthesize(
    segs: List[Segment],
    seconds: float,
    rng: np.random.Generator,
    base_f0: float = None,
    sr: int = SAMPLE_RATE,
    formant_scale: float = 1.0,
    breathiness: float = 0.0,
) -> np.ndarray:
    """Render an utterance to audio.

    Args:
        segs: from :func:`random_utterance`.
        seconds: clip length.
        rng: random generator (voice, jitter, noise).
        base_f0: speaker's base pitch in Hz (drawn from 95-210 Hz when None).
        formant_scale: vocal-tract length factor; every formant is multiplied by it (about 1.0 for an
            adult male tract, 1.15-1.2 for a shorter, female one).
        breathiness: RMS of aspiration noise riding on voicing, as a fraction of the voiced signal's RMS
            (0 = modal voice, 0.3 = a breathy one, about -10 dB).

    Returns:
        (round(seconds * sr),) float32 in [-0.8, 0.8].

    Raises:
        ValueError: ``formant_scale`` outside [0.7, 1.5] or ``breathiness`` outside [0, 1].
    """
    if not 0.7 <= formant_scale <= 1.5:
        raise ValueError(f"formant_scale must be in [0.7, 1.5] (a human vocal tract), got {formant_scale}")
    if not 0.0 <= breathiness <= 1.0:
        raise ValueError(f"breathiness must be in [0, 1], got {breathiness}")
    n = int(round(seconds * sr))
    base = float(rng.uniform(95, 210)) if base_f0 is None else float(base_f0)
    form, voice, noise = _tracks(segs, n, sr)
    form = gaussian_filter1d(form * formant_scale, 0.02 * sr, axis=0, mode="nearest")  # formant transitions
    voice = gaussian_filter1d(voice, 0.008 * sr, mode="nearest")
    noise = gaussian_filter1d(noise, 0.004 * sr, axis=0, mode="nearest")
    f0 = _f0_contour(segs, n, sr, base, rng)
    src = _glottal_source(f0, sr, rng) * voice * 20.0
    voiced = _resonator_cascade(src, form, sr)
    white = rng.standard_normal((n, 3))
    bands = [(1200, 4000), (3500, 7500), (400, 7000)]
    fric = np.zeros(n)
    for k, (lo, hi) in enumerate(bands):
        sos = butter(4, [lo, hi], btype="band", fs=sr, output="sos")
        fric += sosfilt(sos, white[:, k]) * noise[:, k]
    voiced = voiced / (np.abs(voiced).max() + 1e-9)
    y = voiced + 0.6 * fric
    if breathiness > 0:  # glottal turbulence: aspiration noise gated by voicing, shaped by the same tract
        breath = sosfilt(butter(2, [300, 6000], btype="band", fs=sr, output="sos"), rng.standard_normal(n))
        breath = _resonator_cascade(breath * voice, form, sr)
        y = y + breathiness * breath * (voiced.std() / (breath.std() + 1e-12))
    y = y + 3e-4 * rng.standard_normal(n)  # room noise floor
    return (0.8 * y / (np.abs(y).max() + 1e-9)).astype(np.float32)


__all__ = ["PHONES", "Phone", "Segment", "SAMPLE_RATE", "random_utterance", "synthesize"]
