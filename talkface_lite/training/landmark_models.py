"""Per-speaker training and evaluation of the landmark models, the blink model and the sync expert.

Everything here works on :class:`SpeakerArrays` (audio windows, 3D
landmarks, AU45 of one clip), built from a dataset folder, an in-memory
:class:`~talkface_lite.data.dataset.SpeakerRecording` or plain arrays
(DeepSpeech ``(T, 16, 29)``, HuBERT ``(T, 1024)`` / ``(T, 2, 1024)``).

Training uses random crops of ``seq_len`` frames, Adam with a linear decay to
10 % of the learning rate and gradient clipping at 1.0, and draws every
random number from PyTorch's global generator, so a run is deterministic
after :func:`talkface_lite.repro.start_run` / ``seed_everything`` (bitwise on
CPU). Each trainer builds its optimiser and schedule, defines a step function
that draws the batch and returns the loss terms, and hands both to the package's
one training loop, :func:`talkface_lite.training.loop.fit` (which shows a
``tqdm`` bar).

Explained in notebooks/05_landmark_transformer.ipynb and notebooks/06_blink_prediction.ipynb.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, Optional

import numpy as np
import torch
from torch import nn

from .. import landmarks as lmk
from ..models.audio_encoder import FeatureNorm, as_windows
from ..models.audio_vae import centre_features
from ..models.blink import BlinkModel, eye_condition
from ..models.landmark_transformer import BandSelfAttention, landmark_losses
from ..models.sync_expert import LandmarkSyncExpert, sample_pairs, sync_bce
from .loop import decay_schedule, fit


@dataclasses.dataclass
class SpeakerArrays:
    """One clip's arrays for landmark/blink training.

    Attributes:
        feats: ``(T, W, D)`` float32 audio windows.
        landmarks: ``(T, 68, 3)`` float32 head-frame landmarks.
        au45: ``(T,)`` AU45 (0-5).
        landmarks2d: ``(T, 68, 2)`` pixels, or None (EAR then uses the 3D x, y).
        fps: frame rate.
        name: provenance label.
        audio: ``(N,)`` float32 16 kHz waveform the features came from, when known.
        kind: the feature kind of ``feats`` (one of :data:`talkface_lite.audio.KINDS`, or a stored kind
            such as ``deepspeech``), when known; augmentation keeps it, :func:`concat_arrays` refuses to
            mix kinds, and a model trained on the arrays remembers it (``model.feature_kind``).
    """

    feats: np.ndarray
    landmarks: np.ndarray
    au45: np.ndarray
    landmarks2d: Optional[np.ndarray] = None
    fps: float = 25.0
    name: str = ""
    audio: Optional[np.ndarray] = None
    kind: Optional[str] = None

    def __post_init__(self):
        self.feats = np.asarray(as_windows(torch.as_tensor(np.asarray(self.feats, np.float32))).numpy())
        self.landmarks = np.asarray(self.landmarks, np.float32)
        self.au45 = np.asarray(self.au45, np.float32)
        T = len(self.feats)
        if self.landmarks.shape != (T, 68, 3):
            raise ValueError(
                f"landmarks must be (T, 68, 3) with T={T} (the feature frames), got {self.landmarks.shape}"
            )
        if self.au45.shape != (T,):
            raise ValueError(f"au45 must be (T,) with T={T}, got {self.au45.shape}")
        if self.landmarks2d is not None and np.asarray(self.landmarks2d).shape != (T, 68, 2):
            raise ValueError(f"landmarks2d must be (T, 68, 2) with T={T}, got {np.asarray(self.landmarks2d).shape}")

    @property
    def n_frames(self) -> int:
        return len(self.feats)

    @property
    def window(self) -> int:
        return self.feats.shape[1]

    @property
    def dim(self) -> int:
        return self.feats.shape[2]

    def slice(self, start: int, stop: int) -> "SpeakerArrays":
        """Frames ``start:stop`` as a new :class:`SpeakerArrays`."""
        l2 = None if self.landmarks2d is None else self.landmarks2d[start:stop]
        return SpeakerArrays(
            self.feats[start:stop],
            self.landmarks[start:stop],
            self.au45[start:stop],
            l2,
            self.fps,
            f"{self.name}[{start}:{stop}]",
            kind=self.kind,
        )

    def ear(self) -> np.ndarray:
        """``(T, 2)`` eye aspect ratios (from 2D landmarks when present)."""
        src = self.landmarks2d if self.landmarks2d is not None else self.landmarks
        return lmk.eye_aspect_ratio(np.asarray(src)).astype(np.float32)

    @classmethod
    def from_dataset(cls, dataset, kind: str = "mel", split: str = "all") -> "SpeakerArrays":
        """From a dataset folder (path) or a loaded ``SpeakerDataset``; ``split``: train | val | all."""
        if not hasattr(dataset, "features"):
            from ..data.dataset import load_dataset

            dataset = load_dataset(dataset)
        idx = dataset.split(split).numpy()
        return cls(
            dataset.features(kind).numpy()[idx],
            dataset.landmarks.numpy()[idx],
            dataset.au45.numpy()[idx],
            dataset.landmarks2d.numpy()[idx],
            dataset.fps,
            f"{dataset.root.name}:{split}",
            kind=kind,
        )

    @classmethod
    def from_recording(cls, rec, kind: str = "mel") -> "SpeakerArrays":
        """From an in-memory ``SpeakerRecording`` (features computed with :mod:`talkface_lite.audio`)."""
        from .. import audio

        feats = audio.audio_windows(np.asarray(rec.audio), kind=kind, n_frames=rec.n_frames)
        return cls(feats, rec.landmarks, rec.au45, rec.landmarks2d, rec.fps, str(rec.source), kind=kind)


def _fit_linear(
    model: nn.Module, step_fn, opt, steps: int, schedule: str = "linear", warmup: int = 0, **kwargs
) -> Dict[str, list]:
    """These trainers' use of the one loop: lr decay to 10 % (linear unless told), ``model`` in train mode while
    it runs, eval after."""
    model.train()
    hist = fit(step_fn, opt, steps, scheduler=decay_schedule(opt, steps, kind=schedule, warmup=warmup), **kwargs)
    model.eval()
    return hist


def synthetic_arrays(
    seconds: float = 60.0,
    speaker_seed: int = 0,
    utterance_seed: int = 0,
    kind: str = "mel",
    size: int = 128,
    voice_seed: Optional[int] = None,
) -> SpeakerArrays:
    """Audio, landmarks and AU45 of the synthetic speaker saying a new utterance (no rendering).

    The *speaker* (face geometry, voice pitch, blink rate) comes from
    ``speaker_seed``; the *utterance* (phone sequence, prosody, voice jitter,
    blink times, head motion) from ``utterance_seed``. Training on
    ``utterance_seed=0`` and testing on ``utterance_seed=1`` is therefore
    held-out audio of the same speaker, which is what a per-speaker model must
    handle. Landmarks are exact (the head model's), so no rendering is needed:
    a minute of data takes a few seconds. The script comes from
    :func:`talkface_lite.data.synthetic.make_script` with ``utterance_seed``, so even
    ``utterance_seed=speaker_seed`` is another utterance than the clip ``talkface-lite synth``
    renders for that seed (see there). ``voice_seed`` makes the same face say it in speaker
    ``voice_seed``'s voice (pitch, formant scale, speaking rate, breathiness): a held-out *voice* whose
    true mouth is known.

    Args:
        seconds: clip length.
        speaker_seed: identity seed (as ``talkface-lite synth --seed``).
        utterance_seed: seed of what is said.
        kind: audio feature kind (one of :data:`talkface_lite.audio.KINDS`).
        size: image size whose mesh resolution the landmarks use (they barely depend on it).
        voice_seed: whose voice speaks (default: the speaker's own).

    Returns:
        :class:`SpeakerArrays` with ``(T, 16, D)`` features, ``(T, 68, 3)`` landmarks,
        ``(T, 68, 2)`` projections and ``(T,)`` AU45.
    """
    from .. import audio
    from ..data import synthetic
    from ..data.synthetic import head_render

    script = synthetic.make_script(seconds, speaker_seed, utterance_seed=utterance_seed, voice_seed=voice_seed)
    model, _, k = synthetic.build_speaker_model(int(size), speaker_seed)
    n = len(script.states)
    lm3d = np.stack([model.landmarks(st) for st in script.states]).astype(np.float32)  # (T, 68, 3)
    lm2d = np.stack(
        [head_render.project_points(lm, pose.astype(np.float64), k) for lm, pose in zip(lm3d, script.poses)]
    ).astype(np.float32)  # (T, 68, 2)
    feats = audio.audio_windows(script.audio, kind=kind, n_frames=n)
    return SpeakerArrays(
        feats,
        lm3d,
        script.au45,
        lm2d,
        synthetic.FPS,
        f"synthetic:speaker={speaker_seed}:utterance={utterance_seed}"
        + ("" if voice_seed is None else f":voice={voice_seed}"),
        audio=np.asarray(script.audio, np.float32),
        kind=kind,
    )


def _augmented_kind(arrays: SpeakerArrays, kind: Optional[str]) -> str:
    """The feature kind an augmented copy gets: ``kind``, else the clip's own, else log-mel."""
    from .. import audio as A

    kind = kind if kind is not None else (arrays.kind or "mel")
    A.check_kinds([kind])
    return kind


def speed_perturbed(arrays: SpeakerArrays, factor: float, kind: Optional[str] = None) -> SpeakerArrays:
    """Kaldi-style speed perturbation of a training clip: a new voice from the same recording.

    The waveform is resampled as if it had been recorded at ``16 kHz x factor``, so it plays ``factor``
    times faster with pitch and formants ``x factor`` (0.9: a slower, lower, longer-tract voice); the
    landmarks and AU45 are re-timed to match (linear interpolation at the new frame times), and the
    features of ``kind`` are computed from the new audio. Log-mel features move with the voice, so
    adding perturbed copies to the training set (:func:`concat_arrays`) teaches a log-mel model some
    independence from it.

    Args:
        arrays: a clip with its ``audio`` (:func:`synthetic_arrays`, or set ``arrays.audio``).
        factor: speed factor in [0.7, 1.4].
        kind: feature kind of the result (default: the clip's ``kind``, or ``"mel"`` when unknown).

    Returns:
        :class:`SpeakerArrays` of ``floor(T / factor)`` frames, with ``audio``.

    Raises:
        ValueError: no audio on ``arrays``, ``factor`` outside [0.7, 1.4], or an unknown kind.
    """
    from .. import audio as A

    kind = _augmented_kind(arrays, kind)
    if arrays.audio is None:
        raise ValueError("speed perturbation needs the clip's waveform: build the arrays with audio (synthetic_arrays)")
    if isinstance(factor, bool) or not 0.7 <= factor <= 1.4:
        raise ValueError(f"speed factor must be in [0.7, 1.4] (beyond, speech stops sounding human), got {factor}")
    wave = A.resample(np.asarray(arrays.audio, np.float32), int(round(A.SAMPLE_RATE * factor)), A.SAMPLE_RATE)
    n = max(1, min(A.n_frames_for(len(wave)), int(np.floor((arrays.n_frames - 1) / factor)) + 1))
    src = np.arange(n) * factor  # original frame index of each new frame
    lo = np.minimum(np.floor(src).astype(int), arrays.n_frames - 1)
    hi = np.minimum(lo + 1, arrays.n_frames - 1)
    w = (src - lo).astype(np.float32)

    def retime(x):
        x = np.asarray(x, np.float32)
        ww = w.reshape((-1,) + (1,) * (x.ndim - 1))
        return (1 - ww) * x[lo] + ww * x[hi]

    return SpeakerArrays(
        A.audio_windows(wave, kind=kind, n_frames=n),
        retime(arrays.landmarks),
        retime(arrays.au45),
        None if arrays.landmarks2d is None else retime(arrays.landmarks2d),
        arrays.fps,
        f"{arrays.name}:speed={factor:g}",
        audio=wave,
        kind=kind,
    )


def noise_augmented(
    arrays: SpeakerArrays, snr_db: float = 20.0, seed: int = 0, kind: Optional[str] = None
) -> SpeakerArrays:
    """A training clip with noise added: speech-band (300 Hz-6 kHz) Gaussian noise at ``snr_db`` below
    the clip's RMS, the features of ``kind`` recomputed (landmarks and AU45 unchanged).

    Noise augmentation, standard in speech recognition: a voice that is breathier, a room that is
    noisier, a microphone that hisses all add energy where the training voice had none; a model that
    has seen noisy copies leans less on those bands. With speed perturbation it brought every
    held-out synthetic voice within the 1.3x mouth-LMD target in notebook 05.

    Args:
        arrays: a clip with its ``audio``.
        snr_db: signal-to-noise ratio in dB (RMS over the whole clip), in [0, 60].
        seed: noise seed, a non-negative integer (a numpy generator of its own; global random state is
            untouched).
        kind: feature kind of the result (default: the clip's ``kind``, or ``"mel"`` when unknown).

    Raises:
        ValueError: no audio on ``arrays``, ``snr_db`` outside [0, 60], a seed that is not a non-negative
            integer, or an unknown kind.
    """
    from scipy.signal import butter, sosfilt

    from .. import audio as A

    if arrays.audio is None:
        raise ValueError("noise augmentation needs the clip's waveform: build the arrays with audio (synthetic_arrays)")
    if not 0.0 <= snr_db <= 60.0:
        raise ValueError(f"snr_db must be in [0, 60] dB, got {snr_db}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    kind = _augmented_kind(arrays, kind)
    wave = np.asarray(arrays.audio, np.float64)
    noise = sosfilt(
        butter(2, [300, 6000], btype="band", fs=A.SAMPLE_RATE, output="sos"),
        np.random.default_rng(seed).standard_normal(len(wave)),
    )
    noise *= np.sqrt(np.mean(wave**2) / max(np.mean(noise**2), 1e-20)) * 10 ** (-snr_db / 20)
    noisy = wave + noise
    noisy = (noisy / max(1.0, float(np.abs(noisy).max()))).astype(np.float32)  # kept within [-1, 1]
    return SpeakerArrays(
        A.audio_windows(noisy, kind=kind, n_frames=arrays.n_frames),
        arrays.landmarks,
        arrays.au45,
        arrays.landmarks2d,
        arrays.fps,
        f"{arrays.name}:noise={snr_db:g}dB",
        audio=noisy,
        kind=kind,
    )


def concat_arrays(parts) -> SpeakerArrays:
    """Several clips of one speaker as one (random crops may straddle a join: a 40 ms cut, harmless).

    Raises:
        ValueError: no clips, clips of different feature shapes, or clips of different known kinds.
    """
    parts = list(parts)
    if not parts:
        raise ValueError("concat_arrays needs at least one clip")
    kinds = {p.kind for p in parts}
    if len(kinds - {None}) > 1:
        raise ValueError(
            f"clips of different feature kinds cannot be joined ({sorted(kinds - {None})}): compute every copy "
            "with the same kind (speed_perturbed/noise_augmented keep the clip's kind by default)"
        )
    dims = {p.feats.shape[1:] for p in parts}
    if len(dims) != 1:
        raise ValueError(f"clips with different feature shapes cannot be joined: {sorted(dims)}")
    l2 = None if any(p.landmarks2d is None for p in parts) else np.concatenate([p.landmarks2d for p in parts])
    audio = None if any(p.audio is None for p in parts) else np.concatenate([p.audio for p in parts])
    return SpeakerArrays(
        np.concatenate([p.feats for p in parts]),
        np.concatenate([p.landmarks for p in parts]),
        np.concatenate([p.au45 for p in parts]),
        l2,
        parts[0].fps,
        "+".join(p.name for p in parts),
        audio=audio,
        kind=kinds.pop() if len(kinds) == 1 else None,
    )


def fit_normalisers(model: nn.Module, arrays: SpeakerArrays) -> nn.Module:
    """Fit every per-speaker statistic inside ``model`` from training arrays (returns ``model``).

    Feature norms get the audio statistics, shape heads the mean shape and
    offset scale, the blink model its eye scale, the sync expert its mouth scale.
    """
    feats = torch.from_numpy(arrays.feats)
    lms = torch.from_numpy(arrays.landmarks)
    for m in model.modules():
        if isinstance(m, FeatureNorm):
            m.fit(feats)
        elif hasattr(m, "fit") and hasattr(m, "to_landmarks"):
            m.fit(lms)
        elif isinstance(m, (BlinkModel, LandmarkSyncExpert)):
            m.fit_scale(lms)
    return model


def random_crops(arrays: SpeakerArrays, seq_len: int, batch: int) -> Dict[str, torch.Tensor]:
    """``batch`` random crops of ``seq_len`` frames (global torch RNG).

    Returns:
        dict with ``feats (B, L, W, D)``, ``landmarks (B, L, 68, 3)``, ``au45 (B, L)``, ``eye (B, L, 1)``.
    """
    T = arrays.n_frames
    L = min(seq_len, T)
    starts = torch.randint(0, T - L + 1, (batch,))
    idx = starts[:, None] + torch.arange(L)[None]  # (B, L)
    au = torch.from_numpy(arrays.au45)[idx]
    return {
        "feats": torch.from_numpy(arrays.feats)[idx],
        "landmarks": torch.from_numpy(arrays.landmarks)[idx],
        "au45": au,
        "eye": eye_condition(au),
        "idx": idx,
    }


def train_landmark_model(
    model: nn.Module,
    arrays: SpeakerArrays,
    steps: int = 300,
    seq_len: int = 64,
    batch_size: int = 8,
    lr: float = 4e-3,
    weights: Optional[dict] = None,
    progress: bool = True,
    desc: str = "landmarks",
    schedule: str = "linear",
    warmup: Optional[int] = None,
) -> Dict[str, list]:
    """Fit a landmark model (transformer or baseline) to one speaker.

    Adam with ``warmup`` steps of linear warm-up (default 5 % of ``steps``), then a decay to 10 % of
    ``lr`` (``schedule``: linear, cosine or exp), and gradient clipping at 1.0; each step draws
    ``batch_size`` random crops (:func:`random_crops`) and runs :func:`~talkface_lite.training.loop.fit`.

    The recipe (lr 4e-3, 5 % warm-up, linear decay; the transformer without dropout) comes from
    notebook 05's recipe table: with the earlier lr 2e-3, no warm-up and dropout 0.1, the transformer
    under-fitted its 60 s training clip (its Eq. 7 loss ended about twice as high, and several times
    the conv model's). Every model gets the same recipe, so the comparison stays fair.

    Args:
        model: any model of :mod:`~talkface_lite.models.baselines` /
            :mod:`~talkface_lite.models.landmark_transformer`.
        arrays: the training clip.
        steps, seq_len, batch_size, lr, schedule, warmup: optimisation settings.
        weights: loss-weight overrides (see ``landmark_losses``).
        progress, desc: tqdm bar and its label.

    Sets ``model.feature_kind`` to ``arrays.kind`` when that is known, so
    :func:`talkface_lite.drive.landmarks_from_audio` computes the right features without being told. It is
    an attribute: ``torch.save(model)`` keeps it, ``state_dict()`` does not (runs keep it in their config).

    Returns:
        History ``{"step": [...], "pos": [...], ..., "total": [...], "loss": [...]}`` (every step;
        ``"loss"`` is ``"total"``, the term that is back-propagated). ``{"step": []}`` for a model
        with nothing to train (the mean shape).

    Explained in notebooks/05_landmark_transformer.ipynb.
    """
    fit_normalisers(model, arrays)
    if arrays.kind is not None:
        model.feature_kind = arrays.kind  # landmarks_from_audio reads it: the kind need not be named again
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:  # the mean-shape baseline has nothing to train
        return {"step": []}
    opt = torch.optim.Adam(params, lr=lr)
    warmup = int(round(0.05 * steps)) if warmup is None else warmup

    def step_fn(step: int) -> Dict[str, torch.Tensor]:
        b = random_crops(arrays, seq_len, batch_size)
        out = model(b["feats"], b["eye"])
        terms = landmark_losses(out, b["landmarks"], model.shape.scale, weights)
        return {**terms, "loss": terms["total"]}

    return _fit_linear(
        model,
        step_fn,
        opt,
        steps,
        schedule=schedule,
        warmup=warmup,
        clip_grad_norm=1.0,
        progress=progress,
        desc=desc,
        postfix_every=20,
    )


@torch.no_grad()
def predict_landmarks(model: nn.Module, feats, au45=None, chunk: int = 1024) -> np.ndarray:
    """Landmarks for a whole clip, in overlapping chunks so memory stays bounded for long audio.

    Args:
        model: a trained landmark model.
        feats: ``(T, W, D)`` (or ``(T, D)``) audio features.
        au45: ``(T,)`` eye state source (AU45, e.g. from :class:`~talkface_lite.models.blink.BlinkGenerator`), or None for open eyes.
        chunk: frames per forward pass. Each chunk is run with a margin of :func:`receptive_radius` frames
            on either side that is then dropped, so the result equals one pass over the whole clip (the
            band attention of a 10-minute clip in one pass would need ``T^2`` memory: gigabytes).

    Returns:
        ``(T, 68, 3)`` float32.
    """
    model.eval()
    x = as_windows(torch.as_tensor(np.asarray(feats, np.float32)))[None]  # (1, T, W, D)
    eye = None if au45 is None else eye_condition(au45)[None]  # (1, T, 1)
    T = x.shape[1]
    if T <= chunk:
        return model(x, eye)["landmarks"][0].numpy()
    m = receptive_radius(model)
    out = []
    for lo in range(0, T, chunk):
        a, b = max(0, lo - m), min(T, lo + chunk + m)
        pred = model(x[:, a:b], None if eye is None else eye[:, a:b])["landmarks"][0]  # (b - a, 68, 3)
        out.append(pred[lo - a : lo - a + min(chunk, T - lo)].numpy())
    return np.concatenate(out)


def receptive_radius(model: nn.Module) -> int:
    """Frames on either side that can change a landmark model's output for one frame (an upper bound).

    The sum of the band-attention radii and of ``(kernel - 1) // 2 * dilation`` over the stride-1 1D
    convolutions (the stride-2 ones of AudioNet run inside a frame's window; the attention filter's
    convolutions over its 8 neighbours count 5, more than its 4 frames each side), at least 1.
    """
    r = sum(m.radius for m in model.modules() if isinstance(m, BandSelfAttention))
    r += sum(
        (m.kernel_size[0] - 1) // 2 * m.dilation[0]
        for m in model.modules()
        if isinstance(m, nn.Conv1d) and m.stride[0] == 1
    )
    return max(1, int(r))


def evaluate_landmarks(pred: np.ndarray, gt: np.ndarray) -> Dict[str, float]:
    """Mouth LMD, face LMD and the Pearson correlation of mouth opening.

    Args:
        pred: ``(T, 68, 3)``; gt: ``(T, 68, 3)``.

    Returns:
        ``{"lmd_mouth", "lmd_face", "mouth_corr"}`` (``mouth_corr`` is 0 for a constant prediction).
    """
    po, go = lmk.mouth_opening(pred), lmk.mouth_opening(gt)
    corr = 0.0 if po.std() < 1e-9 or go.std() < 1e-9 else float(np.corrcoef(po, go)[0, 1])
    return {"lmd_mouth": lmk.lmd(pred, gt, "mouth"), "lmd_face": lmk.lmd(pred, gt, "face"), "mouth_corr": corr}


def blink_inputs(model: BlinkModel, arrays: SpeakerArrays) -> Dict[str, torch.Tensor]:
    """Per-frame inputs of the blink model for a whole clip (batch of one).

    Returns:
        ``au45 (1, T)``, ``ear (1, T, 2)``, ``eye_lm (1, T, 12, 3)``, ``audio (1, T, D)`` (standardised centre features).
    """
    feats = torch.from_numpy(arrays.feats)
    audio = (centre_features(feats) - feats.mean((0, 1))) / feats.std((0, 1)).clamp_min(1e-4)  # (T, D)
    return {
        "au45": torch.from_numpy(arrays.au45)[None],
        "ear": torch.from_numpy(arrays.ear())[None],
        "eye_lm": model.eye_landmarks(torch.from_numpy(arrays.landmarks))[None],
        "audio": audio[None] if model.features.audio_dim else None,
    }


def train_blink_model(
    model: BlinkModel,
    arrays: SpeakerArrays,
    steps: int = 300,
    seq_len: int = 100,
    batch_size: int = 8,
    lr: float = 3e-3,
    progress: bool = True,
) -> Dict[str, list]:
    """Train the AU feature vector + eye-movement predictor on next-frame eye states (teacher forcing).

    Adam with a linear decay to 10 % of ``lr`` and gradient clipping at 1.0, on random
    crops of ``seq_len`` frames of :func:`blink_inputs`, through :func:`~talkface_lite.training.loop.fit`.

    Args:
        model: the blink model (its eye scale is fitted here).
        arrays: the training clip.
        steps, seq_len, batch_size, lr: optimisation settings.
        progress: show a tqdm bar.

    Returns:
        History ``{"step": [...], ..., "total": [...], "loss": [...]}`` with every term of
        ``BlinkModel.losses`` per step (``"loss"`` is ``"total"``).

    Explained in notebooks/06_blink_prediction.ipynb.
    """
    model.fit_scale(torch.from_numpy(arrays.landmarks))
    full = blink_inputs(model, arrays)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    T, L = arrays.n_frames, min(seq_len, arrays.n_frames)

    def step_fn(step: int) -> Dict[str, torch.Tensor]:
        idx = torch.randint(0, T - L + 1, (batch_size,))[:, None] + torch.arange(L)[None]  # (B, L)
        b = {k: (None if v is None else v[0][idx]) for k, v in full.items()}
        out = model(b["au45"], b["ear"], b["eye_lm"], b["audio"])
        terms = model.losses(out, b["au45"], b["eye_lm"])
        return {**terms, "loss": terms["total"]}

    return _fit_linear(model, step_fn, opt, steps, clip_grad_norm=1.0, progress=progress, desc="blink")


@torch.no_grad()
def evaluate_blink_model(model: BlinkModel, arrays: SpeakerArrays) -> Dict[str, float]:
    """One-step-ahead AU45 error on a clip, against persistence (``AU45(t+1) = AU45(t)``).

    Returns:
        ``au45_mae``, ``au45_rmse``, ``persistence_mae``, ``persistence_rmse`` (0-5 scale),
        ``eye_lm_rmse`` (normalised eye-landmark units) and the series ``pred``/``true`` (lists).
    """
    model.eval()
    b = blink_inputs(model, arrays)
    out = model(b["au45"], b["ear"], b["eye_lm"], b["audio"])
    pred, true, prev = out["au45_next"][0, :-1], b["au45"][0, 1:], b["au45"][0, :-1]
    lm_err = (out["eye_lm_next"][0, :-1] - b["eye_lm"][0, 1:]).pow(2).mean().sqrt()
    return {
        "au45_mae": float((pred - true).abs().mean()),
        "au45_rmse": float((pred - true).pow(2).mean().sqrt()),
        "persistence_mae": float((prev - true).abs().mean()),
        "persistence_rmse": float((prev - true).pow(2).mean().sqrt()),
        "eye_lm_rmse": float(lm_err),
        "pred": pred.tolist(),
        "true": true.tolist(),
    }


def train_sync_expert(
    expert: LandmarkSyncExpert,
    arrays: SpeakerArrays,
    steps: int = 300,
    batch_size: int = 64,
    lr: float = 1e-3,
    min_shift: int = 3,
    progress: bool = True,
) -> Dict[str, list]:
    """Contrastive training on aligned vs shifted (mouth, audio) clips of one speaker.

    Adam with a linear decay to 10 % of ``lr`` (no clipping); each step draws
    ``batch_size`` pairs with :func:`~talkface_lite.models.sync_expert.sample_pairs`
    (half aligned, half shifted by at least ``min_shift`` frames), through
    :func:`~talkface_lite.training.loop.fit`.

    Args:
        expert: the sync expert (its normalisers are fitted here).
        arrays: the training clip.
        steps, batch_size, lr: optimisation settings.
        min_shift: smallest offset of a negative pair, in frames.
        progress: show a tqdm bar.

    Returns:
        History ``{"step": [...], "loss": [...], "acc": [...]}``: BCE and the fraction of pairs
        classified right (cosine > 0 for aligned) per step.
    """
    fit_normalisers(expert, arrays)
    lms, feats = torch.from_numpy(arrays.landmarks), torch.from_numpy(arrays.feats)
    opt = torch.optim.Adam(expert.parameters(), lr=lr)

    def step_fn(step: int) -> Dict[str, torch.Tensor]:
        clips, wins, labels = sample_pairs(lms, feats, batch_size, expert.n_frames, min_shift)
        cos = expert(clips, wins)
        return {"loss": sync_bce(cos, labels), "acc": ((cos.detach() > 0).float() == labels).float().mean()}

    return _fit_linear(expert, step_fn, opt, steps, progress=progress, desc="sync expert", postfix=("loss", "acc"))


__all__ = [
    "SpeakerArrays",
    "concat_arrays",
    "noise_augmented",
    "speed_perturbed",
    "synthetic_arrays",
    "blink_inputs",
    "evaluate_blink_model",
    "evaluate_landmarks",
    "fit_normalisers",
    "predict_landmarks",
    "random_crops",
    "receptive_radius",
    "train_blink_model",
    "train_landmark_model",
    "train_sync_expert",
]
