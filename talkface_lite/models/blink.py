"""Blinks: eye condition from AUs, next-frame eye-movement prediction, natural blink generation.

Paper §III-C: per audio frame, the blink action unit AU45 (OpenFace's 0-5
scale) is combined with local features of the frame and a global feature of
the whole audio segment into a *facial action unit feature vector*, mapped to
an *eye condition*; an *eye-movement predictor* reads the 6 landmarks of each
eye and predicts the next frame's eye state. This module implements:

* :func:`eye_condition`: AU45 -> the scalar eye state the landmark
  transformer and the renderer read (``clip(AU45, 0, 5) / 5``; ER-NeRF clips
  real OpenFace AU45 at 2 and divides by 2, our AU45 comes from
  :func:`talkface_lite.landmarks.au45_from_ear` and uses the whole scale).
* :class:`AUFeatureVector` + :class:`EyeMovementPredictor` in
  :class:`BlinkModel`: per frame ``[AU45, EAR (2), eye landmarks (12x3),
  global feature of the audio segment]`` -> eye condition ``c_t`` -> GRU ->
  next frame's AU45 and eye landmarks (predicted as a change from frame t).
* :class:`BlinkGenerator` (with :func:`~talkface_lite.eye_state.detect_blinks` and
  :class:`~talkface_lite.eye_state.BlinkStatistics`, the package's one blink detector): at inference, blinks are *generated* from the speaker's own statistics: a
  renewal (semi-Markov) process whose inter-blink intervals and durations are
  log-normal fits to the speaker's, peak heights resampled from the speaker's,
  and whose waveform is the speaker's mean blink profile, instead of replaying
  the training AU45 sequence (ER-NeRF, which loops when the new audio is
  longer) or blinking on a fixed period (GeneFace++: a 7-frame profile every
  100 frames, :func:`fixed_period_blinks`).

Explained in notebooks/06_blink_prediction.ipynb.
"""

from __future__ import annotations

from typing import Dict, Optional

import numpy as np
import torch
from torch import nn

from ..eye_state import BLINK_THRESHOLD, GENEFACE_PROFILE, PROFILE_MARGIN, BlinkStatistics, _resample, detect_blinks

AU45_MAX = 5.0
#: Prior used when a clip has too few blinks to fit (adults at rest/speaking:
#: ~15-20 blinks/min, i.e. intervals of ~3-4 s; blinks last ~0.1-0.4 s).
PRIOR_INTERVAL_S = (np.log(3.5), 0.5)  # log-normal (mu, sigma) of seconds
PRIOR_DURATION_S = (np.log(0.2), 0.3)
EYE_POINTS = tuple(range(36, 48))


def eye_condition(au45, scale: float = AU45_MAX) -> torch.Tensor:
    """AU45 ``(..., T)`` on the 0-5 scale -> eye state ``(..., T, 1)`` in [0, 1] (1 = closed)."""
    a = torch.as_tensor(np.asarray(au45, dtype=np.float32) if not torch.is_tensor(au45) else au45).float()
    return (a.clamp(0.0, scale) / scale).unsqueeze(-1)


def _lognormal_fit(x: np.ndarray, prior, min_n: int = 3):
    x = np.asarray(x, dtype=np.float64)
    x = x[x > 0]
    if len(x) < min_n:
        return prior
    lx = np.log(x)
    return float(lx.mean()), float(max(lx.std(ddof=1), 0.05))


class BlinkGenerator:
    """Renewal-process blink generator with the speaker's statistics.

    Intervals ``~ LogNormal(mu_i, sigma_i)`` and durations
    ``~ LogNormal(mu_d, sigma_d)`` fitted to the speaker (priors
    :data:`PRIOR_INTERVAL_S` / :data:`PRIOR_DURATION_S` with fewer than three
    samples), peak heights resampled from the speaker's blinks (+-5 %), each
    blink drawn as the speaker's mean profile stretched to its duration.

    Args:
        stats: the speaker's :class:`BlinkStatistics`.
    """

    def __init__(self, stats: BlinkStatistics):
        self.stats = stats
        self.interval = _lognormal_fit(stats.intervals_s, PRIOR_INTERVAL_S)
        self.duration = _lognormal_fit(stats.durations_s, PRIOR_DURATION_S)
        self.peaks = stats.peaks if len(stats.peaks) else np.asarray([AU45_MAX * 0.9])

    def onsets(self, n_frames: int, rng: np.random.Generator) -> np.ndarray:
        """Blink onset frames over ``n_frames`` (first onset uniform within a first interval)."""
        fps, t, out = self.stats.fps, 0.0, []
        t = rng.uniform(0.0, 1.0) * rng.lognormal(*self.interval)
        while t * fps < n_frames:
            out.append(int(t * fps))
            t += rng.lognormal(*self.interval)
        return np.asarray(out, dtype=np.int64)

    def generate(self, n_frames: int, rng: Optional[np.random.Generator] = None) -> np.ndarray:
        """Generate an AU45 sequence.

        Args:
            n_frames: length in frames.
            rng: NumPy generator (default: one seeded from NumPy's global state,
                which :func:`talkface_lite.repro.seed_everything` seeds).

        Returns:
            ``(n_frames,)`` AU45 on the 0-5 scale.
        """
        if n_frames < 1:
            raise ValueError(f"n_frames must be >= 1, got {n_frames}")
        rng = rng if rng is not None else np.random.default_rng(np.random.randint(0, 2**31 - 1))
        fps, m = self.stats.fps, PROFILE_MARGIN
        au = np.full(n_frames, self.stats.baseline, dtype=np.float64)
        for on in self.onsets(n_frames, rng):
            dur = max(1, int(round(rng.lognormal(*self.duration) * fps)))
            peak = float(rng.choice(self.peaks)) * rng.uniform(0.95, 1.05)
            wave = peak * _resample(self.stats.profile, dur + 2 * m)  # (dur + 2m,)
            lo = on - m
            seg = slice(max(lo, 0), min(lo + len(wave), n_frames))
            au[seg] = np.maximum(au[seg], wave[seg.start - lo : seg.stop - lo])
        return np.clip(au, 0.0, AU45_MAX)


def fixed_period_blinks(
    n_frames: int, period: int = 100, peak: float = AU45_MAX, profile=GENEFACE_PROFILE
) -> np.ndarray:
    """GeneFace++'s inference blinks: ``profile * peak`` injected every ``period`` frames -> ``(n_frames,)``."""
    au = np.zeros(n_frames)
    prof = peak * np.asarray(profile)
    for start in range(period, n_frames, period):
        seg = prof[: n_frames - start]
        au[start : start + len(seg)] = seg
    return au


def ks_report(real: BlinkStatistics, gen: BlinkStatistics, window_s: float = 10.0) -> Dict[str, dict]:
    """Two-sample Kolmogorov-Smirnov statistics of blink rate, duration and interval.

    The rate is compared as a distribution of blinks per minute over
    consecutive ``window_s`` windows.

    Returns:
        ``{"rate"|"duration"|"interval": {"ks": D, "p": p, "n_real": n, "n_gen": m}}``
        (``ks = nan`` when a side has no samples).
    """
    from scipy.stats import ks_2samp

    def rates(s: BlinkStatistics) -> np.ndarray:
        w = max(1, int(round(window_s * s.fps)))
        n_win = s.n_frames // w
        counts = np.bincount(s.onsets[s.onsets < n_win * w] // w, minlength=n_win)[:n_win]
        return counts * 60.0 / window_s

    out = {}
    for name, a, b in (
        ("rate", rates(real), rates(gen)),
        ("duration", real.durations_s, gen.durations_s),
        ("interval", real.intervals_s, gen.intervals_s),
    ):
        if len(a) == 0 or len(b) == 0:
            out[name] = {"ks": float("nan"), "p": float("nan"), "n_real": len(a), "n_gen": len(b)}
        else:
            r = ks_2samp(a, b)
            out[name] = {"ks": float(r.statistic), "p": float(r.pvalue), "n_real": len(a), "n_gen": len(b)}
    return out


class AUFeatureVector(nn.Module):
    """Per-frame facial action unit feature vector -> eye condition.

    Local features of each frame: AU45/5, the EAR of both eyes and the 12 eye
    landmarks (centred on the eyes' mean, divided by the speaker's eye scale).
    Global feature of the audio segment: the mean of its audio features over
    the segment, through a small linear bottleneck (``global_dim``). The audio
    enters only as this segment-level summary (speaking vs silence, loudness):
    per-frame audio carries almost no information about blink timing, and
    feeding it frame by frame lets the model fit spurious onsets.

    Args:
        audio_dim: size of the per-frame audio features (0 for none).
        cond_dim: eye-condition size.
        hidden: MLP width.
        global_dim: size of the global audio feature.
    """

    def __init__(self, audio_dim: int = 0, cond_dim: int = 8, hidden: int = 32, global_dim: int = 4):
        super().__init__()
        self.audio_dim = audio_dim
        self.audio_global = nn.Linear(audio_dim, global_dim) if audio_dim else None
        n_in = 1 + 2 + len(EYE_POINTS) * 3 + (global_dim if audio_dim else 0)
        self.net = nn.Sequential(nn.Linear(n_in, hidden), nn.GELU(), nn.Linear(hidden, cond_dim))

    def forward(
        self, au45: torch.Tensor, ear: torch.Tensor, eye_lm: torch.Tensor, audio: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        """Eye condition per frame.

        Args:
            au45: ``(B, T)`` AU45 (0-5).
            ear: ``(B, T, 2)`` eye aspect ratios.
            eye_lm: ``(B, T, 12, 3)`` normalised eye landmarks.
            audio: ``(B, T, audio_dim)`` per-frame audio features of the segment
                (required when ``audio_dim > 0``).

        Returns:
            ``(B, T, cond_dim)``.
        """
        parts = [au45.unsqueeze(-1) / AU45_MAX, ear, eye_lm.flatten(-2)]  # local
        if self.audio_global is not None:
            if audio is None or audio.shape[-1] != self.audio_dim:
                raise ValueError(f"AUFeatureVector needs audio features (B, T, {self.audio_dim})")
            g = self.audio_global(audio.mean(1, keepdim=True))  # (B, 1, global_dim): the whole segment
            parts.append(g.expand(-1, au45.shape[1], -1))
        return self.net(torch.cat(parts, dim=-1))  # (B, T, cond_dim)


class EyeMovementPredictor(nn.Module):
    """GRU over eye conditions ``c_1..c_t`` -> the change of the eye state from frame t to t+1.

    Predicting the change (not the state) builds persistence in: a model that
    outputs zero reproduces ``AU45(t+1) = AU45(t)``, and training only has to
    learn how blinks continue once they start (their stereotyped profile).
    """

    def __init__(self, cond_dim: int = 8, hidden: int = 32):
        super().__init__()
        self.gru = nn.GRU(cond_dim, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1 + len(EYE_POINTS) * 3)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, cond: torch.Tensor):
        """``cond: (B, T, cond_dim)`` -> ``(d_au45 (B, T), d_eye_lm (B, T, 12, 3))``: row t is the change t -> t+1."""
        h, _ = self.gru(cond)  # (B, T, hidden)
        y = self.head(h)  # (B, T, 1 + 36)
        return AU45_MAX * y[..., 0], y[..., 1:].reshape(*y.shape[:2], len(EYE_POINTS), 3)


class BlinkModel(nn.Module):
    """AU feature vector -> eye condition -> next-frame eye state (training target: frame t+1).

    Args:
        audio_dim: audio code size fed to the AU feature vector (0: eyes only).
        cond_dim: eye-condition size.
        hidden: widths.
    """

    def __init__(self, audio_dim: int = 0, cond_dim: int = 8, hidden: int = 32):
        super().__init__()
        self.features = AUFeatureVector(audio_dim, cond_dim, hidden)
        self.predictor = EyeMovementPredictor(cond_dim, hidden)
        self.register_buffer("eye_scale", torch.ones(()))  # RMS of centred eye landmarks (fit per speaker)

    @torch.no_grad()
    def fit_scale(self, landmarks: torch.Tensor) -> "BlinkModel":
        """Fit the eye-landmark scale from training landmarks ``(T, 68, 3)``."""
        eye = torch.as_tensor(landmarks).float()[:, list(EYE_POINTS)]
        self.eye_scale.copy_((eye - eye.mean(1, keepdim=True)).pow(2).mean().sqrt().clamp_min(1e-6))
        return self

    def eye_landmarks(self, landmarks: torch.Tensor) -> torch.Tensor:
        """``(..., 68, 3)`` -> normalised eye landmarks ``(..., 12, 3)`` (centred on the eyes, / eye_scale)."""
        eye = landmarks[..., list(EYE_POINTS), :]
        return (eye - eye.mean(-2, keepdim=True)) / self.eye_scale

    def forward(self, au45, ear, eye_lm, audio=None) -> Dict[str, torch.Tensor]:
        """See :class:`AUFeatureVector`; returns ``cond``, ``au45_next``, ``eye_lm_next``."""
        cond = self.features(au45, ear, eye_lm, audio)
        d_au, d_lm = self.predictor(cond)
        return {"cond": cond, "au45_next": (au45 + d_au).clamp(0.0, AU45_MAX), "eye_lm_next": eye_lm + d_lm}

    @staticmethod
    def losses(out: Dict[str, torch.Tensor], au45: torch.Tensor, eye_lm: torch.Tensor) -> Dict[str, torch.Tensor]:
        """One-step-ahead losses: ``(au45 (B, T), eye_lm (B, T, 12, 3))`` -> MSE of rows ``:-1`` vs ``1:``."""
        au = torch.mean(((out["au45_next"][:, :-1] - au45[:, 1:]) / AU45_MAX) ** 2)
        lm = torch.mean((out["eye_lm_next"][:, :-1] - eye_lm[:, 1:]) ** 2)
        return {"au45": au, "eye_lm": lm, "total": au + lm}


__all__ = [
    "AU45_MAX",
    "AUFeatureVector",
    "BLINK_THRESHOLD",
    "BlinkGenerator",
    "BlinkModel",
    "BlinkStatistics",
    "EyeMovementPredictor",
    "detect_blinks",
    "eye_condition",
    "fixed_period_blinks",
    "ks_report",
]
