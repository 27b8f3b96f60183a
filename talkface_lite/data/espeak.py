"""Real English speech offline, from the espeak-ng synthesiser (``apt-get install espeak-ng``).

The synthetic speaker says nonsense syllables in a formant voice; to see how a landmark model meets
*English* in *another* voice, notebooks and benchmarks have espeak-ng read a standard passage. It is
optional: nothing in the tests needs it, and callers check :func:`espeak_available` first.

The passage is "The North Wind and the Sun" (Aesop), the text the International Phonetic
Association uses to illustrate languages; :data:`PASSAGE` is split into its sentences.

Explained in notebooks/05_landmark_transformer.ipynb.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Optional

import numpy as np

PASSAGE = (
    "The North Wind and the Sun were disputing which was the stronger, when a traveler came along wrapped "
    "in a warm cloak. They agreed that the one who first succeeded in making the traveler take his cloak "
    "off should be considered stronger than the other. Then the North Wind blew as hard as he could, but "
    "the more he blew the more closely did the traveler fold his cloak around him; and at last the North "
    "Wind gave up the attempt. Then the Sun shined out warmly, and immediately the traveler took off his "
    "cloak. And so the North Wind was obliged to confess that the Sun was the stronger of the two."
)


def espeak_available() -> Optional[str]:
    """Path of the ``espeak-ng`` binary, or None when it is not installed."""
    return shutil.which("espeak-ng")


def espeak_speech(text: str = PASSAGE, voice: str = "en-us", wpm: int = 160, pause_ms: int = 10) -> np.ndarray:
    """``text`` spoken by espeak-ng: ``(N,)`` float32 at 16 kHz in [-1, 1].

    Args:
        text: what to say.
        voice: an espeak-ng voice, e.g. ``"en-us"`` (male), ``"en-us+f3"`` (female), ``"en-gb"``.
        wpm: speaking rate in words per minute (espeak-ng ``-s``, 80-450).
        pause_ms: extra pause between words (espeak-ng ``-g``, in units of 10 ms at the default rate).

    Raises:
        FileNotFoundError: espeak-ng is not installed (says how to install it).
        ValueError: ``wpm`` outside [80, 450], or espeak-ng fails (its message).
    """
    exe = espeak_available()
    if exe is None:
        raise FileNotFoundError("espeak-ng is not installed: apt-get install espeak-ng (Debian/Ubuntu)")
    if not 80 <= int(wpm) <= 450:
        raise ValueError(f"wpm must be in [80, 450] words per minute, got {wpm}")
    from .. import audio as A

    with tempfile.TemporaryDirectory() as tmp:  # a file, not --stdout: a streamed wav header has no length
        wav = Path(tmp) / "speech.wav"
        run = subprocess.run(
            [exe, "-v", voice, "-s", str(int(wpm)), "-g", str(int(pause_ms) // 10), "-w", str(wav), "--", text],
            capture_output=True,
        )
        if run.returncode != 0 or not wav.is_file():
            msg = run.stderr.decode(errors="replace").strip()[:200]
            raise ValueError(f"espeak-ng failed for voice {voice!r}: {msg}")
        return A.load_audio(wav)


__all__ = ["PASSAGE", "espeak_available", "espeak_speech"]
