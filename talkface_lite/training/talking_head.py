"""Train and render the talking-head field: two stages, one run folder, exact resume (paper §III-D, Eq. 8-9).

**Coarse stage (Eq. 8).** Each step draws ``n_rays`` rays of *one* training
frame (its condition is shared by the batch): half on the face rectangle,
shares on the mouth and eye rectangles, the rest anywhere; a quarter of the
steps pick a frame with a blink, which are rare. Rays are marched through an
occupancy grid (updated every ``grid_update_every`` steps from the density
under a random training frame's condition), composited over the background
plate, and the loss is the colour MSE. Adam, hash tables at ``lr_grids``,
MLPs at ``lr_mlps``, both decayed exponentially to ``lr_final`` over the run.

**Fine stage (Eq. 9).** Each step renders ``patches`` square patches inside
the mouth rectangle of one frame; the loss is MSE + lambda * LPIPS (lambda =
0.001 as the paper; the perceptual network is whichever
:func:`talkface_lite.perceptual.load_lpips` finds and its name is recorded).

**Run folder.** ``config.json`` (the whole :class:`TrainConfig`, dataset,
package version, LPIPS name), ``metrics.csv`` (one row per step),
``ckpt.pt`` (latest; model, optimiser, scheduler, occupancy grid, RNG states,
step), ``coarse.pt`` (the end of the coarse stage). Checkpoints are written
atomically and loaded with ``weights_only=True``; ``resume=True`` continues a
run exactly where its checkpoint left it (same parameters as an uninterrupted
run, on CPU). Ctrl-C stops after the current step and writes a checkpoint.

Explained in notebooks/07_two_stage_training.ipynb.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import shutil
import time
from pathlib import Path
from typing import Callable, Dict, Optional, Sequence, Union

import numpy as np
import torch

from .. import __version__, rendering, repro
from ..metrics import psnr_from_mse
from ..models.field import Condition, DynamicLandmarkField, neighbour_windows
from . import checkpoint as ck
from .config import TrainConfig
from .loop import StopFlag, decay_schedule, fit, stop_on_interrupt

STAGES = ("coarse", "fine", "all")
#: bump when training changes what a run holds or computes (part of cached_run's key)
TRAINER_VERSION = 2
CKPT_KIND = "talking_head"
METRICS = ("step", "stage", "loss", "mse", "psnr", "lpips", "samples", "lr_grids", "wall_s")


class RunError(ValueError):
    """A run folder or its inputs cannot be used (the message says why and what to do)."""


class TalkingHead:
    """A field with everything needed to condition and render it on one speaker dataset.

    Attributes:
        config: the run's :class:`TrainConfig`.
        dataset: the :class:`~talkface_lite.data.sampling.SpeakerDataset`.
        field: the :class:`~talkface_lite.models.field.DynamicLandmarkField`.
        grid: the :class:`~talkface_lite.occupancy.OccupancyGrid`.
        landmarks: ``(T, 68, 3)`` landmarks the field is driven by (ground truth or DLT predictions).
        features: ``(T, W, D)`` audio windows of the dataset's ``audio_kind``.
        step: steps trained.

    Explained in notebooks/07_two_stage_training.ipynb.
    """

    def unfinished(self) -> str:
        """``""`` for a finished run, else a sentence saying where it stopped (callers print it as a note)."""
        if self.step >= self.config.total_steps:
            return ""
        where = self.run_dir if getattr(self, "run_dir", None) is not None else "this run"
        return (
            f"{where} stopped at step {self.step} of {self.config.total_steps} ({self.config.stage_of(self.step)} "
            "stage): its frames are from an unfinished run; continue it with `talkface-lite train ... --resume`"
        )

    def __init__(self, config: TrainConfig, dataset, device: torch.device, landmarks: Optional[torch.Tensor] = None):
        from ..occupancy import OccupancyGrid

        self.config, self.dataset, self.device = config, dataset, device
        self.features = dataset.features(config.audio_kind).float()
        self.field = DynamicLandmarkField(config.field).to(device)
        self.set_landmarks(dataset.landmarks if landmarks is None else landmarks)
        self.grid = OccupancyGrid(
            config.field.aabb, resolution=config.grid_resolution, decay=0.95, density_threshold=10.0, device=device
        )
        box = torch.tensor(config.field.aabb)
        self.step_size = float((box[3:] - box[:3]).norm()) / config.n_samples
        self.step = 0
        self.run_dir: Optional[Path] = None
        self.dlt_state: Optional[dict] = None  # the Dynamic Landmark Transformer fitted with the run (driving)

    def set_landmarks(self, landmarks: torch.Tensor) -> None:
        """Use ``landmarks (T, 68, 3)`` to drive the field (and fit its per-speaker statistics on them)."""
        self.landmarks = torch.as_tensor(landmarks).float()
        train = self.dataset.split("train")
        self.field.fit_normalisers(self.features[train], self.landmarks[train], train)

    def landmark_model(self):
        """The run's Dynamic Landmark Transformer (audio -> landmarks), for driving with new audio."""
        from ..models.landmark_transformer import DynamicLandmarkTransformer

        if self.dlt_state is None:
            raise RunError(
                "this run has no Dynamic Landmark Transformer (it was trained by an older version): "
                "retrain it with talkface-lite train"
            )
        model = DynamicLandmarkTransformer(int(self.features.shape[-1]), int(self.features.shape[1]))
        model.load_state_dict(self.dlt_state)
        model.feature_kind = self.config.audio_kind  # drive/landmarks_from_audio need not be told the kind
        return model.eval()

    # ------------------------------------------------------------------ conditions
    def condition(
        self,
        frame: Optional[int],
        au45=None,
        landmarks: Optional[torch.Tensor] = None,
        audio_frame: Optional[int] = None,
        latent_frame: Optional[int] = None,
        audio_windows: Optional[torch.Tensor] = None,
    ) -> Condition:
        """The field's condition for dataset frame ``frame``, with optional overrides.

        Args:
            frame: frame whose audio, landmarks, AU45 and latent are used by default (None: no dataset
                frame, as when driving with new audio: give ``audio_windows``, ``landmarks``, ``au45``).
            au45: AU45 value to use instead (0-5).
            landmarks: ``(68, 3)`` landmarks to use instead.
            audio_frame: take the audio windows of this frame instead.
            latent_frame: take the latent of this frame (default: ``frame``; None and frames without a
                latent use the training mean).
            audio_windows: ``(audio_seq_len, W, D)`` windows to use instead (see
                :func:`~talkface_lite.models.field.neighbour_windows`).
        """
        if frame is None and (audio_windows is None or landmarks is None or au45 is None):
            raise ValueError("without a dataset frame, give audio_windows, landmarks and au45")
        if audio_windows is None:
            a = frame if audio_frame is None else audio_frame
            audio_windows = neighbour_windows(self.features, a, self.config.field.audio_seq_len)
        lm = self.landmarks[frame] if landmarks is None else torch.as_tensor(landmarks)
        return self.field.encode(
            audio_windows,
            lm.to(self.device),
            self.dataset.au45[frame] if au45 is None else au45,
            frame if latent_frame is None else latent_frame,
        )

    # ------------------------------------------------------------------ rendering
    def render_rays(
        self,
        cond: Condition,
        rays_o: torch.Tensor,
        rays_d: torch.Tensor,
        background: torch.Tensor,
        jitter: bool = False,
        generator: Optional[torch.Generator] = None,
    ):
        """Render rays ``(n, 3)`` under one condition over ``background (n, 3)``.

        Returns:
            (:class:`~talkface_lite.rendering.RenderOutput`, number of samples evaluated).
        """
        field = lambda p, d: self.field(p, d, cond)  # noqa: E731
        return rendering.render_marched(
            field, rays_o, rays_d, self.grid, self.step_size, background, jitter=jitter, generator=generator
        )

    @torch.no_grad()
    def render_frame(
        self, frame: Optional[int], chunk: int = 8192, pose: Optional[torch.Tensor] = None, **overrides
    ) -> torch.Tensor:
        """Render dataset frame ``frame`` (its camera unless ``pose``) as ``(H, W, 3)`` in [0, 1] on the CPU.

        ``overrides`` go to :meth:`condition` (``au45=``, ``landmarks=``, ``audio_frame=``, ``latent_frame=``,
        ``audio_windows=``); with ``frame=None`` give ``pose`` and the whole condition.
        """
        self.field.eval()
        ds = self.dataset
        cond = self.condition(frame, **overrides)
        if pose is None and frame is None:
            raise ValueError("without a dataset frame, give the camera pose (4, 4)")
        o, d = rendering.camera_rays(ds.intrinsics, ds.poses[frame] if pose is None else pose, ds.height, ds.width)
        o, d = o.reshape(-1, 3).to(self.device), d.reshape(-1, 3).to(self.device)
        bg = ds.background.reshape(-1, 3).to(self.device)
        rgb = torch.cat(
            [
                self.render_rays(cond, o[i : i + chunk], d[i : i + chunk], bg[i : i + chunk])[0].rgb
                for i in range(0, o.shape[0], chunk)
            ]
        )
        return rgb.reshape(ds.height, ds.width, 3).clamp(0, 1).cpu()

    def update_grid(self, generator: Optional[torch.Generator] = None) -> float:
        """One occupancy update from the density under a random training frame's condition."""
        train = self.dataset.split("train")
        i = int(train[torch.randint(len(train), (1,), generator=generator)])
        with torch.no_grad():
            cond = self.condition(i)
        return self.grid.update(lambda p: self.field.density(p, cond), generator=generator)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        return {
            "field": self.field.state_dict(),
            "grid": self.grid.state_dict(),
            "landmarks": self.landmarks,
            "dlt": self.dlt_state,
        }

    def load_state_dict(self, state: dict) -> None:
        self.field.load_state_dict(state["field"])
        self.grid.load_state_dict(state["grid"])
        self.landmarks = state["landmarks"].float()  # the statistics that depend on them are in the field's state
        self.dlt_state = state.get("dlt")


# ---------------------------------------------------------------------------- checks before work


def _check_inputs(dataset_dir, run_dir: Path, config: TrainConfig, stage: str, resume: bool, overwrite: bool):
    from ..data.dataset import DatasetError, load_dataset

    if stage not in STAGES:
        raise RunError(f"stage must be one of {STAGES}, got {stage!r}")
    if resume and overwrite:
        raise RunError("--resume continues a run and --overwrite deletes it: choose one")
    try:
        ds = load_dataset(dataset_dir)
    except DatasetError as exc:
        raise RunError(f"dataset {dataset_dir} does not validate: {exc}") from None
    if config.audio_kind not in ds.meta["features"]:
        raise RunError(
            f"dataset {ds.root} has no {config.audio_kind!r} audio features (it has "
            f"{sorted(ds.meta['features'])}): choose one of those with audio_kind/--audio-kind, or add "
            f"them with talkface_lite.data.dataset.add_features"
        )
    if len(ds.split("train")) < 2:
        raise RunError(f"dataset {ds.root} has {len(ds.split('train'))} training frames; at least 2 are needed")
    exists = run_dir.exists() and any(run_dir.iterdir())
    if exists and not (resume or overwrite):
        raise RunError(
            f"run folder {run_dir} already exists: pass resume=True (--resume) to continue it or "
            "overwrite=True (--overwrite) to start again"
        )
    if resume and not (run_dir / "ckpt.pt").exists():
        raise RunError(f"nothing to resume in {run_dir} (no ckpt.pt): start the run without --resume")
    if stage == "fine" and not resume and config.coarse_steps > 0:
        raise RunError(
            "stage 'fine' continues a coarse run: pass --resume with a run folder whose coarse "
            "stage is done, or use --stage all"
        )
    return ds


def dataset_id(ds) -> str:
    """A fingerprint of a dataset that survives moving or copying its folder and adding feature kinds."""
    import hashlib

    keys = ("source", "written", "n_frames", "height", "width", "fps", "splits")
    return hashlib.sha1(json.dumps({k: ds.meta.get(k) for k in keys}, sort_keys=True).encode()).hexdigest()[:16]


def _check_same_dataset(recorded: dict, ds, run_dir: Path) -> None:
    """Refuse to resume a run on another dataset than the one it was trained on."""
    was = recorded.get("dataset", "?")
    same = (
        recorded["dataset_id"] == dataset_id(ds)
        if "dataset_id" in recorded
        else Path(was).resolve() == Path(ds.root).resolve()
    )
    if not same:
        raise RunError(
            f"the run in {run_dir} was trained on the dataset {was}, not {ds.root}: resume it on that "
            "dataset, or start a new run on this one"
        )


def _check_extension(saved: TrainConfig, given: TrainConfig, done: int, run_dir: Path) -> None:
    """Step counts on resume may extend the stage in progress (or the fine stage), never rewrite finished work."""
    if given.coarse_steps != saved.coarse_steps and done > saved.coarse_steps:
        raise RunError(
            f"the run in {run_dir} finished its coarse stage at step {saved.coarse_steps} and is at step "
            f"{done}: its coarse steps cannot change now (extend it with --fine-steps, or start a new run)"
        )
    if given.coarse_steps < min(done, saved.coarse_steps):
        raise RunError(
            f"the run in {run_dir} is already at step {done}: coarse steps cannot go below that "
            f"(given {given.coarse_steps})"
        )
    if given.total_steps < done:
        raise RunError(
            f"the run in {run_dir} is already at step {done}: {given.coarse_steps} coarse + "
            f"{given.fine_steps} fine steps would end before it; give more steps or none"
        )


def _complete_config(config: TrainConfig, ds) -> TrainConfig:
    feats = ds.features(config.audio_kind)
    field = dataclasses.replace(
        config.field, audio_dim=int(feats.shape[-1]), audio_window=int(feats.shape[1]), n_frames=int(ds.n_frames)
    )
    return dataclasses.replace(config, field=field)


# ---------------------------------------------------------------------------- training


def train(
    dataset,
    run_dir,
    config: Optional[TrainConfig] = None,
    stage: str = "all",
    resume: bool = False,
    overwrite: bool = False,
    device: str = "auto",
    progress: bool = True,
    should_stop: Optional[Callable[[], bool]] = None,
) -> TalkingHead:
    """Train the talking-head field on a dataset folder, into a run folder.

    Args:
        dataset: dataset folder (``talkface-lite synth`` / ``prepare``).
        run_dir: run folder to create (or continue with ``resume``).
        config: :class:`TrainConfig` (default: the saved one on resume, else :meth:`TrainConfig.quick`); on
            resume a passed config may differ from the saved one only in step counts (to extend a run).
        stage: ``"coarse"`` (stop after the coarse stage), ``"fine"`` (continue a finished coarse run) or ``"all"``.
        resume: continue from ``run_dir/ckpt.pt``.
        overwrite: delete an existing run folder first.
        device: ``"auto" | "cpu" | "cuda"``.
        should_stop: polled between steps; True stops, writing a checkpoint (Ctrl-C does the same).

    Returns:
        The :class:`TalkingHead` at the end (``.step`` says how far it got).

    Raises:
        RunError: bad dataset, missing feature kind, existing run folder without resume/overwrite, a config
            that differs from the saved one. :class:`~talkface_lite.training.checkpoint.CheckpointError`:
            a checkpoint of another variant or version, or a damaged one.

    Explained in notebooks/07_two_stage_training.ipynb.
    """
    run_dir = Path(run_dir)
    if config is None:
        config = saved_config(run_dir) if resume and (run_dir / "config.json").is_file() else TrainConfig.quick()
    ds = _check_inputs(dataset, run_dir, config, stage, resume, overwrite)
    config = _complete_config(config, ds)
    state = None
    if resume:
        recorded = _read_json(run_dir / "config.json")
        _check_same_dataset(recorded, ds, run_dir)
        saved = saved_config(run_dir)
        diff = saved.differences(config)
        if diff:
            names = ", ".join(f"{k} (run: {a!r}, given: {b!r})" for k, a, b in ((k, *v) for k, v in diff.items()))
            raise RunError(
                f"the run in {run_dir} was made with other settings: {names}; resume without "
                "changing them, or start a new run"
            )
        state = ck.load_checkpoint(
            run_dir / "ckpt.pt", kind=CKPT_KIND, variant=saved.field.variant, version=__version__
        )
        _check_extension(saved, config, int(state["step"]), run_dir)
        extended = (config.coarse_steps, config.fine_steps) != (saved.coarse_steps, saved.fine_steps)
        config = dataclasses.replace(
            saved, coarse_steps=config.coarse_steps, fine_steps=config.fine_steps, ckpt_every=config.ckpt_every
        )
        if extended:  # the run folder says what the run now is
            config.save(run_dir / "config.json", {k: v for k, v in recorded.items() if k not in config.to_dict()})
    elif overwrite and run_dir.exists():
        shutil.rmtree(run_dir)
    dev = repro.choose_device(device)
    repro.seed_everything(config.seed)
    gen = torch.Generator().manual_seed(config.seed)

    head = TalkingHead(config, ds, dev)
    if state is None:  # the landmark transformer drives the head with new audio; fitted with every run
        with torch.random.fork_rng(devices=[]):  # on its own random numbers: the field's do not move
            torch.manual_seed(config.seed + 1)
            predicted, head.dlt_state = fit_dlt(ds, config, progress=progress)
        if config.landmarks == "dlt":
            head.set_landmarks(predicted)
    groups = head.field.parameter_groups()
    opt = torch.optim.Adam(
        [{"params": groups["grids"], "lr": config.lr_grids}, {"params": groups["mlps"], "lr": config.lr_mlps}],
        betas=(0.9, 0.99),
        eps=1e-15,
    )
    sched = decay_schedule(opt, config.total_steps, final=config.lr_final, kind="exp")
    lpips_net = None
    if state is not None:
        head.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        ck.set_rng_state(state["rng"], gen)
        head.step = int(state["step"])
    run_dir.mkdir(parents=True, exist_ok=True)
    extra = {"dataset": str(Path(dataset).resolve()), "dataset_id": dataset_id(ds), "version": __version__}
    end = {"coarse": config.coarse_steps, "fine": config.total_steps, "all": config.total_steps}[stage]
    if stage == "fine" and head.step < config.coarse_steps:
        raise RunError(
            f"the coarse stage of {run_dir} stopped at step {head.step} of {config.coarse_steps}: "
            "resume with --stage coarse or --stage all first"
        )
    if end > config.coarse_steps and config.fine_steps:
        from ..perceptual import load_lpips

        lpips_net = load_lpips(config.lpips_kind, device=dev)
        extra["lpips"] = lpips_net.name
    if not resume:
        config.save(run_dir / "config.json", extra)
    log = _MetricsLog(run_dir / "metrics.csv", keep_before=head.step)

    def save(next_step: int, name: str = "ckpt.pt"):
        head.step = next_step
        ck.save_checkpoint(
            run_dir / name,
            {
                "kind": CKPT_KIND,
                "variant": config.field.variant,
                "version": __version__,
                "step": next_step,
                "stage": config.stage_of(max(0, next_step - 1)),
                "model": head.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "rng": ck.rng_state(gen),
            },
        )

    step_fn = _step_function(head, config, gen, lpips_net)
    t0 = time.perf_counter() - log.last_wall  # wall_s counts on across resumes

    def on_step(step: int, terms: Dict[str, float]):
        log.write(step, config.stage_of(step), terms, opt.param_groups[0]["lr"], time.perf_counter() - t0)
        done = step + 1
        if done == config.coarse_steps:
            save(done)
            shutil.copyfile(run_dir / "ckpt.pt", run_dir / "coarse.pt")
        elif done % config.ckpt_every == 0 or done == end:
            save(done)

    flag = StopFlag()
    stop = (lambda: flag() or should_stop()) if should_stop is not None else flag
    head.field.train()
    try:
        with stop_on_interrupt(flag):
            hist = fit(
                step_fn,
                opt,
                end,
                start=head.step,
                scheduler=sched,
                callbacks=[on_step],
                should_stop=stop,
                progress=progress,
                desc=f"train {config.field.variant}",
                postfix=("loss", "psnr"),
            )
    finally:
        log.close()
    if "stopped_at" in hist:
        save(hist["stopped_at"][0] + 1)
    elif head.step < end:
        save(end)
    head.field.eval()
    head.run_dir = run_dir
    return head


def _step_function(head: TalkingHead, config: TrainConfig, gen: torch.Generator, lpips_net):
    ds, dev = head.dataset, head.device
    train_idx = ds.split("train")
    blink_idx = train_idx[ds.au45[train_idx] > 1.0]
    amp = config.amp and dev.type == "cuda"

    def pick_frame() -> int:
        if len(blink_idx) and float(torch.rand((), generator=gen)) < config.blink_frame_fraction:
            return int(blink_idx[torch.randint(len(blink_idx), (1,), generator=gen)])
        return int(train_idx[torch.randint(len(train_idx), (1,), generator=gen)])

    def render(cond, b):
        out, n = head.render_rays(
            cond, b["rays_o"].to(dev), b["rays_d"].to(dev), b["background"].to(dev), jitter=True, generator=gen
        )
        return out.rgb, n

    def step_fn(step: int) -> Dict[str, torch.Tensor]:
        if step % config.grid_update_every == 0:
            head.update_grid(gen)
        i = pick_frame()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            cond = head.condition(i)
            terms: Dict[str, torch.Tensor] = {}
            if config.stage_of(step) == "coarse":
                b = ds.sample_rays(
                    config.n_rays,
                    frame=i,
                    face_fraction=config.face_fraction,
                    audio_kind=None,
                    regions={"mouth": config.mouth_fraction, "eyes": config.eye_fraction},
                    generator=gen,
                )
                rgb, n = render(cond, b)
                mse = ((rgb.float() - b["rgb"].to(dev)) ** 2).mean()
                loss = mse
            else:
                mses, lps, n = [], [], 0
                for _ in range(config.patches):
                    b = ds.sample_patch(config.patch_size, region="mouth", frame=i, audio_kind=None, generator=gen)
                    rgb, k = render(cond, b)
                    n += k
                    target = b["rgb"].to(dev)
                    mses.append(((rgb.float() - target) ** 2).mean())
                    p = config.patch_size
                    lps.append(
                        lpips_net(
                            rgb.float().reshape(1, p, p, 3).permute(0, 3, 1, 2),
                            target.reshape(1, p, p, 3).permute(0, 3, 1, 2),
                        ).mean()
                    )
                mse, lp = torch.stack(mses).mean(), torch.stack(lps).mean()
                loss = mse + config.lpips_weight * lp
                terms["lpips"] = lp.detach()
            if cond.latent is not None and config.latent_l2:
                loss = loss + config.latent_l2 * cond.latent.pow(2).sum()
        terms.update(loss=loss, mse=mse.detach(), psnr=psnr_from_mse(mse.detach()), samples=torch.tensor(float(n)))
        return terms

    return step_fn


def fit_dlt(ds, config: TrainConfig, progress: bool = True):
    """Fit the Dynamic Landmark Transformer on the training split and predict every frame's landmarks.

    Returns:
        ``(T, 68, 3)`` predicted landmarks and the transformer's state dict.
    """
    from ..models.landmark_transformer import DynamicLandmarkTransformer
    from .landmark_models import SpeakerArrays, predict_landmarks, train_landmark_model

    arrays = SpeakerArrays.from_dataset(ds, config.audio_kind, split="train")
    model = DynamicLandmarkTransformer(arrays.dim, arrays.window)
    train_landmark_model(model, arrays, steps=config.dlt_steps, progress=progress, desc="DLT")
    pred = predict_landmarks(model, ds.features(config.audio_kind).numpy(), ds.au45.numpy())
    return torch.from_numpy(pred), model.state_dict()


# ---------------------------------------------------------------------------- loading and rendering


def load_run(run_dir, device: str = "auto", checkpoint: str = "ckpt.pt", dataset=None) -> TalkingHead:
    """Load a trained run (its config, dataset and a checkpoint) for rendering.

    Args:
        run_dir: the run folder.
        device: where to put the field.
        checkpoint: ``"ckpt.pt"`` (latest) or ``"coarse.pt"`` (end of the coarse stage).
        dataset: dataset folder to use instead of the one recorded (e.g. the run was copied elsewhere).

    Raises:
        RunError: no run there. CheckpointError: damaged checkpoint, or another variant/version.
    """
    from ..data.dataset import load_dataset

    run_dir = Path(run_dir)
    config = saved_config(run_dir)
    saved = _read_json(run_dir / "config.json")
    state = ck.load_checkpoint(run_dir / checkpoint, kind=CKPT_KIND, variant=config.field.variant, version=__version__)
    head = TalkingHead(config, load_dataset(dataset or saved["dataset"]), repro.choose_device(device))
    head.load_state_dict(state["model"])
    head.step = int(state["step"])
    head.run_dir = run_dir
    head.field.eval()
    return head


def render_frames(
    run: Union[TalkingHead, str, os.PathLike],
    frames: Sequence[int],
    progress: bool = True,
    conditions: Optional[Sequence[dict]] = None,
) -> torch.Tensor:
    """Render dataset frames of a trained run.

    Args:
        run: a :class:`TalkingHead` or a run folder.
        frames: frame indices (camera and default condition).
        conditions: optional per-frame overrides for :meth:`TalkingHead.condition`
            (e.g. ``{"au45": 0.0}``, ``{"audio_frame": j, "landmarks": lm}``).

    Returns:
        ``(n, H, W, 3)`` float images in [0, 1].
    """
    from ..progress import tqdm

    head = run if isinstance(run, TalkingHead) else load_run(run)
    n = head.dataset.n_frames

    def index(f):  # Python/NumPy integers and 0-d integer tensors (a split's elements); nothing else
        if isinstance(f, torch.Tensor) and f.dim() == 0 and not f.is_floating_point() and f.dtype != torch.bool:
            return int(f)
        if isinstance(f, (int, np.integer)) and not isinstance(f, (bool, np.bool_)):
            return int(f)
        return None

    bad = [f for f in frames if index(f) is None or not 0 <= index(f) < n]
    if bad:
        raise ValueError(f"frames must be integer indices in [0, {n}) of the run's dataset, got {bad[:5]}")
    conditions = list(conditions) if conditions is not None else [{}] * len(frames)
    if len(conditions) != len(frames):
        raise ValueError(f"{len(conditions)} conditions for {len(frames)} frames: give one per frame")
    out = [
        head.render_frame(int(f), **c)
        for f, c in tqdm(list(zip(frames, conditions)), desc="render", disable=not progress, leave=False)
    ]
    return torch.stack(out)


def cached_run(dataset, config: TrainConfig, root=None, device: str = "auto", progress: bool = True) -> TalkingHead:
    """Train once, then reuse: a run folder under ``build/cache/runs/`` keyed by the dataset folder and the config.

    A finished run there is loaded; an interrupted one is resumed; otherwise it is trained. Notebooks 07-09
    share their QUICK run this way.

    Returns:
        The trained :class:`TalkingHead` (its folder is ``head.run_dir``).
    """
    import hashlib
    import json

    blob = json.dumps(
        {"dataset": Path(dataset).name, "trainer": TRAINER_VERSION, **config.to_dict()}, sort_keys=True
    ).encode()
    root = Path(root) if root is not None else repro.build_dir() / "cache" / "runs"
    run_dir = root / f"{Path(dataset).name}-{config.field.variant}-{hashlib.sha1(blob).hexdigest()[:12]}"
    if (run_dir / "ckpt.pt").is_file():
        step = int(ck.load_checkpoint(run_dir / "ckpt.pt", kind=CKPT_KIND)["step"])
        head = (
            load_run(run_dir, device=device, dataset=dataset)
            if step >= config.total_steps
            else train(dataset, run_dir, config, resume=True, device=device, progress=progress)
        )
    else:
        head = train(dataset, run_dir, config, overwrite=True, device=device, progress=progress)
    head.run_dir = run_dir
    return head


# ---------------------------------------------------------------------------- files


def saved_config(run_dir) -> TrainConfig:
    """The :class:`TrainConfig` a run folder was made with (its ``config.json``)."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise RunError(f"{run_dir} is not a run folder (no config.json): train one with talkface-lite train")
    return TrainConfig.from_dict(_read_json(path))


def _read_json(path: Path) -> dict:
    import json

    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise RunError(f"cannot read {path} ({exc}): the run folder is damaged; start a new run") from None


class _MetricsLog:
    """``metrics.csv``: one row per step; on resume, rows at or after the checkpoint's step are dropped."""

    def __init__(self, path: Path, keep_before: int):
        rows = []
        if path.exists() and keep_before > 0:
            with open(path, newline="") as fh:
                rows = [r for r in csv.DictReader(fh) if r.get("step", "").isdigit() and int(r["step"]) < keep_before]
        self.last_wall = float(rows[-1]["wall_s"]) if rows and rows[-1].get("wall_s") else 0.0
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        with open(tmp, "w", newline="") as fh:
            w = csv.DictWriter(fh, METRICS)
            w.writeheader()
            w.writerows(rows)
        os.replace(tmp, path)
        self.fh = open(path, "a", newline="")
        self.writer = csv.DictWriter(self.fh, METRICS)

    def write(self, step: int, stage: str, terms: Dict[str, float], lr: float, wall: float) -> None:
        row = {"step": step, "stage": stage, "lr_grids": f"{lr:.6g}", "wall_s": f"{wall:.3f}"}
        row.update({k: f"{terms[k]:.6g}" for k in ("loss", "mse", "psnr", "lpips", "samples") if k in terms})
        self.writer.writerow(row)
        self.fh.flush()

    def close(self) -> None:
        self.fh.close()


def read_metrics(run_dir) -> Dict[str, np.ndarray]:
    """``metrics.csv`` of a run as arrays (``stage`` as strings; missing values NaN)."""
    with open(Path(run_dir) / "metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    out = {"stage": np.array([r["stage"] for r in rows])}
    for k in METRICS:
        if k != "stage":
            out[k] = np.array([float(r[k]) if r.get(k) else np.nan for r in rows])
    return out


__all__ = [
    "CKPT_KIND",
    "RunError",
    "STAGES",
    "TalkingHead",
    "cached_run",
    "fit_dlt",
    "load_run",
    "read_metrics",
    "render_frames",
    "saved_config",
    "train",
]
