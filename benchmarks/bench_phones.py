"""Phone features: speed on a 3-minute clip, and the recogniser's phone error rate (PER).

Targets (issue 15): ``kind="phones"`` features for a 3-minute clip in under 15 s on 2 CPU cores.

Measured here:

* wall time of :func:`talkface_lite.audio.compute_features` with ``kind="phones"`` (recognition,
  silence gate, soft phone vectors) on 180 s of the synthetic speaker, and on 180 s of espeak-ng
  English when espeak-ng is installed; log-mel on the same audio for scale;
* PER of pocketsphinx's allphone recognition (:func:`talkface_lite.phones.recognise_phones`)
  against the synthetic speaker's true phones, for its own voice and two lent voices
  (``voice_seed``); and on espeak-ng English (two voices, two rates) against the phones that
  forced alignment of the known text places (CMUdict pronunciations), sentence by sentence.

Writes ``figures/bench_phones.{csv,md}`` (timings) and ``figures/bench_phones_per.{csv,md}``
through :mod:`talkface_lite.viz`. Timings depend on the machine and its load.

    python benchmarks/bench_phones.py [--seconds 180]

Explained in notebooks/04_audio_features.ipynb.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from talkface_lite import audio as A
from talkface_lite import phones as P
from talkface_lite import repro, viz
from talkface_lite.data import synthetic as S
from talkface_lite.data.espeak import PASSAGE, espeak_available, espeak_speech

ESPEAK_VOICES = (("en-us", 140), ("en-us", 200), ("en-us+f3", 140), ("en-us+f3", 200))


def timed(fn, *args, **kw):
    t0 = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t0


def speed_rows(seconds: float):
    clips = {"synthetic speaker": S.make_script(seconds, 0, utterance_seed=7).audio}
    if espeak_available():
        parts, total = [], 0.0
        while total < seconds:
            for voice, wpm in ESPEAK_VOICES:
                parts.append(espeak_speech(PASSAGE, voice, wpm))
                total += len(parts[-1]) / A.SAMPLE_RATE
        clips["espeak-ng English"] = np.concatenate(parts)[: int(seconds * A.SAMPLE_RATE)]
    rows = []
    for name, wave in clips.items():
        for kind in ("phones", "mel"):
            feats, dt = timed(A.compute_features, wave, kind=kind)
            rows.append(
                {
                    "audio": name,
                    "kind": kind,
                    "seconds_audio": round(len(wave) / A.SAMPLE_RATE, 1),
                    "wall_s": round(dt, 2),
                    "real_time_factor": round(dt / (len(wave) / A.SAMPLE_RATE), 4),
                    "shape": "x".join(map(str, feats.shape)),
                    "cpus": os.cpu_count(),
                }
            )
            print(rows[-1], flush=True)
    return rows


def per_rows():
    rows = []
    for voice in (None, 1, 2):
        script = S.make_script(60, 0, utterance_seed=11, voice_seed=voice)
        truth = P.phone_sequence([P.PhoneSegment(s.phone, s.start, s.end) for s in script.segments])
        hyp = P.phone_sequence(P.recognise_phones(script.audio))
        rows.append(
            {
                "audio": "synthetic speaker, 60 s",
                "voice": "own" if voice is None else f"voice_seed={voice}",
                "reference": "true phones",
                "n_phones": len(truth),
                "per": round(P.phone_error_rate(truth, hyp), 3),
            }
        )
        print(rows[-1], flush=True)
    if espeak_available():
        sentences = [x.strip() + "." for x in PASSAGE.split(".") if x.strip()]
        for voice, wpm in ESPEAK_VOICES:
            errors, n_ref, seconds = 0.0, 0, 0.0
            for sentence in sentences:  # aligned one sentence at a time: the aligner fails on 40 s at once
                wave = espeak_speech(sentence, voice, wpm)
                truth = P.phone_sequence(P.recognise_phones(wave, sentence))
                hyp = P.phone_sequence(P.recognise_phones(wave))
                errors += P.phone_error_rate(truth, hyp) * len(truth)
                n_ref += len(truth)
                seconds += len(wave) / A.SAMPLE_RATE
            rows.append(
                {
                    "audio": f"espeak-ng, {seconds:.0f} s",
                    "voice": f"{voice} {wpm} wpm",
                    "reference": "aligned CMUdict phones",
                    "n_phones": n_ref,
                    "per": round(errors / n_ref, 3),
                }
            )
            print(rows[-1], flush=True)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="accepted for `make bench`; recognition runs on the CPU")
    parser.add_argument("--seconds", type=float, default=180.0, help="length of the timed clip")
    args = parser.parse_args(argv)
    repro.start_run("bench_phones", quick=True, device="cpu", seed=0, seconds=args.seconds)
    if not espeak_available():
        print("espeak-ng is not installed (apt-get install espeak-ng): English rows are skipped", flush=True)
    viz.save_table(speed_rows(args.seconds), "bench_phones")
    viz.save_table(per_rows(), "bench_phones_per")
    return 0


if __name__ == "__main__":
    sys.exit(main())
