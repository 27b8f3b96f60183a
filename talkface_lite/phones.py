"""Phonetic audio features: phone recognition offline, turned into 50 Hz phone vectors (``kind="phones"``).

Log-mel describes *this* voice; which phone is being said does not depend on the voice. Peers get that
speaker independence from DeepSpeech's 29 character logits (AD-NeRF, ER-NeRF) or HuBERT features, whose
weights cannot be had offline here. The closest offline analogue ships inside the ``pocketsphinx`` wheel:
CMU Sphinx's en-us acoustic model, which recognises phones in *allphone* mode (a phone n-gram instead of
words; about 1 s of CPU per 20 s of audio) or aligns a transcript's phones when one is given.

Decisions:

* **Phone set** :data:`PHONE_SET`: the 39 ARPAbet phones of CMUdict, ``SIL`` and ``NOISE`` (the
  recogniser's fillers, ``+SPN+``, ``+NSN+``, ...); D = 41.
* **Segments** come in 10 ms frames with inclusive ends; segment ``(p, s, e)`` covers ``[s, e + 1) x 10 ms``.
* **Silence gate.** The recogniser has no silence detector of its own that survives a white noise floor:
  it hears a quiet room as /F/ or /S/. Every 10 ms frame whose level (25 ms RMS) lies more than
  :data:`SILENCE_DB` (45 dB) below the clip's loud speech (its 95th-percentile frame) is relabelled ``SIL``.
  The quietest phones (/F/, /TH/) stay within about 35 dB of the vowels, so the gate only takes pauses.
* **Softening.** The recogniser gives hard segments, no posteriors, and its boundaries are uncertain by
  a frame or two. Treating each boundary as Gaussian with standard deviation ``sigma`` (20 ms, one
  feature step), the chance that time ``t`` lies in segment ``[a, b)`` is
  ``Phi((t - a) / sigma) - Phi((t - b) / sigma)``. For contiguous segments these sum to one at every
  ``t`` (the sum telescopes), so each 50 Hz step is a distribution over phones: one-hot inside a long
  phone, shared near a boundary.
* **Timing** is :mod:`talkface_lite.audio`'s: step ``k`` is centred on ``k x 20 ms`` and a clip of ``N``
  samples gives ``1 + N // 320`` steps, so phone vectors cut into the same ``(T, 16, 41)`` windows.

Explained in notebooks/04_audio_features.ipynb; compared with log-mel in notebooks/05_landmark_transformer.ipynb.
"""

from __future__ import annotations

import dataclasses
import re
from typing import List, Optional, Sequence

import numpy as np

#: the 39 CMUdict phones (stress removed), then silence and the recogniser's non-speech fillers
PHONE_SET = (
    "AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH UH UW V W Y Z ZH"
).split() + ["SIL", "NOISE"]
PHONE_INDEX = {p: i for i, p in enumerate(PHONE_SET)}
N_PHONES = len(PHONE_SET)
FRAME_S = 0.01  # the recogniser's frame (10 ms)
SIGMA_S = 0.02  # boundary uncertainty used to soften segments (one 50 Hz step)
SILENCE_DB = 45.0  # frames this far below the clip's loud speech are silence, whatever the recogniser heard
# A transcript must cover the speech: pocketsphinx aligns a partial transcript to the first stretch it
# fits (or to nothing) and calls the rest silence. Share of the speech frames (within SPEECH_DB of the loud
# speech) that the aligned phones cover, measured: correct transcripts 0.92-1.00 (espeak-ng, two voices at
# 160 and 220 wpm, also at 40 and 20 dB SNR; the formant voice saying 11 CMUdict words, two voices and
# rates), worst 0.72 (espeak-ng's male voice at 220 wpm, whose last 4 words pocketsphinx dropped) and 0.74
# (the formant voice saying 2 words); partial ones: the first word or two 0.00-0.24 (1 of 2 words 0.32-0.44),
# the first half of the words 0.25-0.58, a wrong short sentence 0.00-0.16. SPEECH_DB is tighter than
# SILENCE_DB: at 45 dB a noise floor 40 dB below the speech made every pause speech, and correct
# transcripts fell to 0.40-0.67.
SPEECH_DB = 20.0
MIN_ALIGNED = 0.6
PROGRESS_AFTER_S = 60.0  # about 3 s of decoding on 2 cores


@dataclasses.dataclass(frozen=True)
class PhoneSegment:
    """One recognised phone: ``phone`` (in :data:`PHONE_SET`), ``start`` and ``end`` in seconds (end exclusive)."""

    phone: str
    start: float
    end: float


def normalise_phone(name: str) -> str:
    """Map a recogniser or dictionary label to :data:`PHONE_SET`: stress digits dropped, fillers to ``NOISE``.

    Raises:
        ValueError: a label that is no ARPAbet phone, silence or filler.
    """
    name = name.strip().upper().rstrip("012")
    if name in ("SIL", "<SIL>", "SP", "<S>", "</S>"):
        return "SIL"
    if name.startswith("+") or name.startswith("[") or name.startswith("<"):
        return "NOISE"
    if name not in PHONE_INDEX:
        raise ValueError(f"unknown phone label {name!r}: expected an ARPAbet phone ({' '.join(PHONE_SET[:5])} ...)")
    return name


def _model_dir():
    try:
        import pocketsphinx
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise ImportError(
            "phone features need pocketsphinx (a dependency of talkface_lite): pip install pocketsphinx==5.1.1"
        ) from exc
    from pathlib import Path

    return pocketsphinx, Path(pocketsphinx.get_model_path()) / "en-us"


def _pcm16(audio: np.ndarray) -> bytes:
    """Little-endian int16 bytes, dithered: runs of exact zeros (synthesised pauses, padding) break the
    recogniser's cepstral mean normalisation, so Gaussian noise of 3 LSB (-80 dBFS, fixed seed) is added."""
    x = np.clip(np.asarray(audio, np.float64), -1.0, 1.0) * 32767.0
    x = x + np.random.default_rng(0).normal(0.0, 3.0, len(x))
    return np.clip(np.round(x), -32768, 32767).astype("<i2").tobytes()


def _decode(decoder, audio: np.ndarray) -> None:
    decoder.start_utt()
    decoder.process_raw(_pcm16(audio), full_utt=True)
    decoder.end_utt()


def quiet_frames(audio: np.ndarray, silence_db: float = SILENCE_DB) -> np.ndarray:
    """``(ceil(N / 160),)`` bool: 10 ms frames whose 25 ms RMS is ``silence_db`` below the 95th-percentile frame."""
    n = -(-len(audio) // 160)
    x = np.pad(np.asarray(audio, np.float64), (120, 120 + n * 160 - len(audio)))
    idx = np.arange(n)[:, None] * 160 + np.arange(400)[None]  # (n, 400): 25 ms centred on each frame
    level = 10 * np.log10(np.mean(x[idx] ** 2, axis=1) + 1e-12)
    return level < np.percentile(level, 95) - silence_db


def _gate(raw, quiet: np.ndarray):
    """Relabel quiet 10 ms frames of ``(label, start_frame, end_frame_exclusive)`` runs as ``SIL``."""
    labels = np.array(["SIL"] * len(quiet), dtype=object)
    for name, a, b in raw:
        labels[a : min(b, len(quiet))] = name
    labels[quiet] = "SIL"
    out, start = [], 0
    for k in range(1, len(labels) + 1):
        if k == len(labels) or labels[k] != labels[start]:
            out.append((labels[start], start, k))
            start = k
    return out


def recognise_phones(
    audio: np.ndarray,
    transcript: Optional[str] = None,
    silence_db: Optional[float] = SILENCE_DB,
    progress: Optional[bool] = None,
) -> List[PhoneSegment]:
    """Phones of 16 kHz speech, from pocketsphinx's en-us model (allphone, or aligned to ``transcript``).

    Args:
        audio: ``(N,)`` float32 mono samples in [-1, 1] at 16 kHz (:func:`talkface_lite.audio.load_audio`).
        transcript: the words said, when known: the phones of their CMUdict pronunciations are aligned
            to the audio (forced alignment) instead of recognised freely. Words missing from CMUdict are
            refused. When the phone-level pass fails (it can, on a clip's last frames), each word's
            aligned span is shared evenly among its phones. Align a sentence or two at a time: a
            40 s passage in one piece can fail to align (refused, below). The transcript must be all that
            is said: aligned phones covering under :data:`MIN_ALIGNED` of the speech are refused.
        silence_db: the silence gate (see the module docstring); None keeps the recogniser's labels.
        progress: a bar while decoding (None: only for clips longer than :data:`PROGRESS_AFTER_S`). It
            moves once, at the end: the decoder takes the whole clip in one call, because its cepstral
            mean is the clip's (fed in pieces, it uses a running mean and recognises other phones).

    Returns:
        Contiguous :class:`PhoneSegment` s covering ``[0, N / 16000)`` (gaps and the tail are ``SIL``).

    Raises:
        ValueError: audio that is not 1D float in [-1, 1] or holds NaN/inf; an empty transcript, one with
            words the dictionary lacks, one that cannot be aligned to the audio, or one that covers only part
            of its speech (a partial transcript: the rest would be labelled silence).
    """
    from .checks import require_finite

    audio = np.asarray(audio)
    if audio.ndim != 1:
        raise ValueError(f"audio must be mono (N,) at 16 kHz, got shape {audio.shape}")
    if not np.issubdtype(audio.dtype, np.floating):
        raise ValueError(
            f"audio must be float samples in [-1, 1], got {audio.dtype}: load it with talkface_lite.audio.load_audio "
            "or use talkface_lite.audio.compute_features(audio, kind='phones'), which converts integer PCM"
        )
    require_finite(audio, "audio samples", "replace the bad samples (numpy.nan_to_num) before recognising phones")
    if len(audio) and float(np.abs(audio).max()) > 1.5:
        raise ValueError("audio samples exceed [-1, 1]: integer PCM stored as float? divide by 32768 first")
    if transcript is not None and not _words(transcript):
        raise ValueError(
            "the transcript holds no words (digits are dropped: spell numbers out): give the words said, "
            "or transcript=None to recognise freely"
        )
    if len(audio) < 160:  # shorter than one 10 ms frame: nothing to recognise
        return [PhoneSegment("SIL", 0.0, len(audio) / 16000.0)] if len(audio) else []
    from .progress import tqdm

    ps, model = _model_dir()
    seconds = len(audio) / 16000.0
    show = seconds > PROGRESS_AFTER_S if progress is None else bool(progress)
    bar = tqdm(total=round(seconds), desc="phones", unit="s audio", disable=not show)
    if transcript is None:
        dec = ps.Decoder(
            hmm=str(model / "en-us"),
            allphone=str(model / "en-us-phone.lm.bin"),
            lw=2.0,
            beam=1e-20,
            pbeam=1e-20,
            loglevel="FATAL",
        )
        _decode(dec, audio)
        # no hypothesis at all (a clip of a few frames): silence, filled in below
        raw = [] if dec.hyp() is None else [(s.word, s.start_frame, s.end_frame + 1) for s in dec.seg()]
    else:
        raw = _align(ps, model, audio, transcript)
    bar.update(bar.total)
    bar.close()
    if silence_db is not None and len(audio):
        raw = _gate(raw, quiet_frames(audio, silence_db))
    segs: List[PhoneSegment] = []
    t = 0.0
    for name, a, b in raw:
        start, end = min(a * FRAME_S, seconds), min(b * FRAME_S, seconds)
        if end <= start:
            continue
        if start > t + 1e-9:
            segs.append(PhoneSegment("SIL", t, start))
        segs.append(PhoneSegment(normalise_phone(name), max(start, t), end))
        t = end
    if seconds > t + 1e-9:
        segs.append(PhoneSegment("SIL", t, seconds))
    return segs


def _words(transcript: str) -> List[str]:
    """Lower-case words of a transcript, punctuation dropped (apostrophes kept: "don't" is a CMUdict word)."""
    return re.sub(r"[^a-z']+", " ", transcript.lower()).replace(" '", " ").replace("' ", " ").split()


def _align(ps, model, audio: np.ndarray, transcript: str):
    words = _words(transcript)
    # the default dictionary is CMUdict; beams far wider than recognition's: with the defaults, an 8 s
    # sentence of espeak-ng's female voice found no alignment at all, and the text constrains the search anyway
    dec = ps.Decoder(hmm=str(model / "en-us"), lm=None, beam=1e-80, wbeam=1e-60, pbeam=1e-80, loglevel="FATAL")
    missing = [w for w in words if dec.lookup_word(w) is None]
    if missing:
        raise ValueError(
            f"transcript words not in CMUdict: {', '.join(missing[:5])}; spell them as dictionary words, "
            "or leave transcript=None to recognise the phones freely"
        )
    dec.set_align_text(" ".join(words))
    _decode(dec, audio)  # pass 1: where each word is
    if dec.hyp() is None:
        raise ValueError(
            f"the transcript ({len(words)} words) could not be aligned to {len(audio) / 16000:.2f} s of audio: check "
            "that it is what is said, or leave transcript=None to recognise the phones freely"
        )
    spans = [(s.word.split("(")[0], s.start_frame, s.end_frame + 1) for s in dec.seg()]
    dec.set_alignment()
    try:
        _decode(dec, audio)  # pass 2: the phones inside the words
        out = [(p.name, p.start, p.start + p.duration) for w in dec.get_alignment() for p in w]
    except RuntimeError:
        # the state-level pass can fail on the last frames of a clip; then each aligned word's span is
        # shared evenly among its dictionary phones (word boundaries stay exact, phone ones approximate)
        out = []
        for word, a, b in spans:
            pron = None if word.startswith("<") else dec.lookup_word(word)
            names = pron.split() if pron else ["SIL"]
            edges = [a + round(k * (b - a) / len(names)) for k in range(len(names) + 1)]
            out.extend((n, lo, hi) for n, lo, hi in zip(names, edges, edges[1:]) if hi > lo)
    _require_coverage(out, audio, len(words))
    return out


def _require_coverage(raw, audio: np.ndarray, n_words: int) -> None:
    """Refuse ``(label, start_frame, end_frame_exclusive)`` runs whose phones (not ``SIL``/``NOISE``) cover
    under :data:`MIN_ALIGNED` of the audio's speech frames (those :func:`quiet_frames` at :data:`SPEECH_DB`
    leaves), as a transcript of part of what is said gives (or no phone at all, only silence).

    Raises:
        ValueError: too little of the speech covered (says how much, and what to do).
    """
    speech = ~quiet_frames(audio, SPEECH_DB)  # (ceil(N / 160),)
    said = np.zeros(len(speech), bool)
    for name, a, b in raw:
        if normalise_phone(name) not in ("SIL", "NOISE"):
            said[a : min(b, len(speech))] = True
    total, covered = int(speech.sum()), int((said & speech).sum())
    if covered < MIN_ALIGNED * total:
        raise ValueError(
            f"the transcript's {n_words} word{'s were' if n_words != 1 else ' was'} aligned to only "
            f"{covered * FRAME_S:.2f} s of the {total * FRAME_S:.2f} s of speech in the audio: give the whole "
            "transcript of what is said, "
            "or transcript=None to recognise the phones freely"
        )


def phone_posteriors(segments: Sequence[PhoneSegment], n_steps: int, sigma: float = SIGMA_S) -> np.ndarray:
    """Soft phone vectors at 50 Hz from segments (Gaussian boundary uncertainty, see the module docstring).

    Args:
        segments: contiguous :class:`PhoneSegment` s (:func:`recognise_phones`).
        n_steps: 50 Hz steps to produce; step ``k`` is at ``k x 20 ms``.
        sigma: boundary uncertainty in seconds (> 0).

    Returns:
        ``(n_steps, 41)`` float32; rows sum to 1 when the segments are contiguous (the first one is taken
        to reach back before step 0, the last one on past the final step). No segments (empty audio) is
        silence throughout.

    Raises:
        ValueError: ``sigma <= 0`` or an unknown phone.
    """
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0 seconds, got {sigma}")
    from scipy.special import ndtr  # the standard normal CDF, Phi

    t = np.arange(n_steps) * 0.02  # (T50,)
    out = np.zeros((n_steps, N_PHONES), np.float64)
    if not segments:
        out[:, PHONE_INDEX["SIL"]] = 1.0
    for i, seg in enumerate(segments):
        # the clip's ends are certain: the first segment reaches back to -inf, the last on to +inf
        start = -np.inf if i == 0 else seg.start
        end = np.inf if i == len(segments) - 1 else seg.end
        lo, hi = start - 6 * sigma, end + 6 * sigma  # beyond 6 sigma the share is < 1e-9
        k = np.nonzero((t >= lo) & (t <= hi))[0]
        if len(k) == 0:
            continue
        share = ndtr((t[k] - start) / sigma) - ndtr((t[k] - end) / sigma)
        out[k, PHONE_INDEX[normalise_phone(seg.phone)]] += share
    return out.astype(np.float32)


def phone_features(
    audio: np.ndarray, transcript: Optional[str] = None, sigma: float = SIGMA_S, progress: Optional[bool] = None
) -> np.ndarray:
    """``(1 + N // 320, 41)`` phone vectors of 16 kHz audio: :func:`recognise_phones` then :func:`phone_posteriors`."""
    return phone_posteriors(recognise_phones(audio, transcript, progress=progress), 1 + len(audio) // 320, sigma)


def phone_sequence(segments: Sequence[PhoneSegment]) -> List[str]:
    """The spoken phones in order: silence and noise dropped, repeats of one phone merged."""
    seq: List[str] = []
    for s in segments:
        p = normalise_phone(s.phone)
        if p in ("SIL", "NOISE"):
            continue
        if not seq or seq[-1] != p:
            seq.append(p)
    return seq


def phone_error_rate(reference: Sequence[str], hypothesis: Sequence[str]) -> float:
    """Levenshtein distance (substitutions + insertions + deletions) over ``len(reference)``.

    Raises:
        ValueError: an empty reference.
    """
    ref, hyp = list(reference), list(hypothesis)
    if not ref:
        raise ValueError("the reference phone sequence is empty: nothing to score against")
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1] / len(ref)


__all__ = [
    "N_PHONES",
    "PHONE_SET",
    "PhoneSegment",
    "normalise_phone",
    "phone_error_rate",
    "phone_features",
    "phone_posteriors",
    "phone_sequence",
    "recognise_phones",
]
