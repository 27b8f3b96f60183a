"""One training loop for every model in the package.

Each model contributes a *step function* that draws its own batch, runs the
forward pass and returns its loss terms; the loop owns everything else, the
same way for the landmark transformer, the blink model, the sync expert, the
static NeRF of notebook 03 and the talking-head field of notebook 07::

    for step in range(start, steps):
        terms = step_fn(step)            # {"loss": scalar tensor, other terms...}
        zero_grad; backward(terms["loss"]); clip; optimizer.step(); scheduler.step()
        history[k].append(float(v)) for every term
        callbacks (evaluation, checkpoints) between steps

This is nanoGPT's ``train.py`` and d2l's ``Trainer.fit`` in one function.
Stopping is clean: :func:`fit` checks ``should_stop()`` (and a Ctrl-C caught
by :func:`stop_on_interrupt`) *between* steps, so a run that stops has whole
steps only and can be checkpointed and resumed exactly.

Explained in notebooks/07_two_stage_training.ipynb.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
from typing import Callable, Dict, Iterable, Iterator, List, Optional

import numpy as np
import torch

from ..progress import tqdm

StepFn = Callable[[int], Dict[str, torch.Tensor]]


class NonFiniteLoss(FloatingPointError):
    """The loss became NaN or inf; the message names the step and the term."""


def _as_float(v) -> float:
    return float(v.detach()) if torch.is_tensor(v) else float(v)


def fit(
    step_fn: StepFn,
    optimizer: Optional[torch.optim.Optimizer],
    steps: int,
    *,
    start: int = 0,
    scheduler=None,
    clip_grad_norm: Optional[float] = None,
    history: Optional[Dict[str, list]] = None,
    callbacks: Iterable[Callable[[int, Dict[str, float]], None]] = (),
    should_stop: Optional[Callable[[], bool]] = None,
    scaler=None,
    progress: bool = True,
    desc: str = "train",
    postfix: Iterable[str] = ("loss",),
    postfix_every: int = 10,
    leave: bool = False,
) -> Dict[str, list]:
    """Run ``step_fn`` for steps ``start .. steps-1`` with one optimiser.

    Args:
        step_fn: ``step -> {"loss": scalar tensor, ...}``; ``"loss"`` is back-propagated, every
            entry (tensor or number) is logged. It may return extra non-differentiable numbers
            (e.g. ``"psnr"``).
        optimizer: the optimiser (``None``: evaluate-only loop, nothing is stepped).
        steps: index one past the last step (a resumed run passes the same ``steps`` and a later ``start``).
        start: first step (from a checkpoint).
        scheduler: stepped once per step after the optimiser.
        clip_grad_norm: clip the global gradient norm of the optimiser's parameters.
        history: dict of lists to append to (``"step"`` plus one list per term); created if None.
        callbacks: ``cb(step, terms)`` after each completed step (evaluation, checkpoints, logging).
        should_stop: polled between steps; ``True`` ends the loop after the current step.
        scaler: a ``torch.amp.GradScaler`` for mixed precision on CUDA.
        progress: show a tqdm bar with the ``postfix`` terms.

    Returns:
        ``history``, with ``history["stopped_at"] = [step]`` when ``should_stop`` ended the loop early.

    Raises:
        NonFiniteLoss: when the loss is NaN or inf (the step and the term values are named).

    Explained in notebooks/07_two_stage_training.ipynb.
    """
    history = {"step": []} if history is None else history
    history.setdefault("step", [])
    params: List[torch.nn.Parameter] = (
        [p for g in optimizer.param_groups for p in g["params"]] if optimizer is not None else []
    )
    postfix = tuple(postfix)
    bar = tqdm(
        range(start, steps),
        desc=desc,
        disable=not progress,
        leave=leave,
        initial=0,
        total=max(0, steps - start),
        mininterval=0.5,
    )  # fewer redraws: a notebook sends each one
    for step in bar:
        terms = step_fn(step)
        loss = terms["loss"]
        if optimizer is not None:
            if not torch.isfinite(loss.detach()).all():
                vals = ", ".join(f"{k}={_as_float(v):.4g}" for k, v in terms.items())
                raise NonFiniteLoss(
                    f"non-finite loss at step {step} ({vals}): lower the learning rate or check the inputs for NaN/inf"
                )
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                if clip_grad_norm:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(params, clip_grad_norm)
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                if clip_grad_norm:
                    torch.nn.utils.clip_grad_norm_(params, clip_grad_norm)
                optimizer.step()
            if scheduler is not None:
                scheduler.step()
        logged = {k: _as_float(v) for k, v in terms.items()}
        history["step"].append(step)
        for k, v in logged.items():
            history.setdefault(k, []).append(v)
        for cb in callbacks:
            cb(step, logged)
        if progress and (step % postfix_every == 0 or step == steps - 1):
            bar.set_postfix({k: f"{logged[k]:.4g}" for k in postfix if k in logged and math.isfinite(logged[k])})
        if should_stop is not None and should_stop() and step < steps - 1:
            history["stopped_at"] = [step]
            break
    bar.close()
    return history


def decay_schedule(
    optimizer: torch.optim.Optimizer, steps: int, final: float = 0.1, kind: str = "exp", warmup: int = 0
):
    """Learning-rate multiplier from 1 to ``final`` over ``steps``, after an optional linear warm-up.

    Kinds, with ``p`` the progress of the decay in [0, 1]: ``"exp"`` (ER-NeRF: ``final ** p``), ``"linear"``
    (``1 - (1 - final) p``) or ``"cosine"`` (``final + (1 - final)(1 + cos(pi p)) / 2``); held at ``final`` after
    ``steps``. ``warmup`` steps first ramp the multiplier linearly from ``1 / warmup`` to 1 (the decay then runs
    over the remaining ``steps - warmup``); transformers trained from scratch with Adam need it (Vaswani et al.).

    Raises:
        ValueError: an unknown ``kind``, or ``warmup`` not an integer in ``[0, steps)``.
    """
    n = max(1, int(steps))
    if kind not in ("exp", "linear", "cosine"):
        raise ValueError(f"unknown schedule {kind!r}: use 'exp', 'linear' or 'cosine'")
    if not isinstance(warmup, (int, np.integer)) or isinstance(warmup, bool) or not 0 <= warmup < n:
        raise ValueError(f"warmup must be an integer number of steps in [0, steps) = [0, {n}), got {warmup!r}")
    w = int(warmup)
    decay = {
        "exp": lambda p: final**p,
        "linear": lambda p: 1.0 - (1.0 - final) * p,
        "cosine": lambda p: final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * p)),
    }[kind]

    def multiplier(s: int) -> float:
        if s < w:
            return (s + 1) / w
        return decay(min(s - w, n - w) / (n - w))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, multiplier)


class StopFlag:
    """A flag that :func:`stop_on_interrupt` sets on Ctrl-C, polled by :func:`fit` between steps."""

    def __init__(self):
        self.requested = False

    def __call__(self) -> bool:
        return self.requested


@contextlib.contextmanager
def stop_on_interrupt(flag: StopFlag) -> Iterator[StopFlag]:
    """Turn the first Ctrl-C (SIGINT) into a clean stop between steps; a second one interrupts at once.

    Only in the main thread (elsewhere, e.g. inside some notebook front-ends, the handler is left alone).
    """
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum, frame):
        if flag.requested:
            raise KeyboardInterrupt
        flag.requested = True
        print("\ninterrupt: stopping after this step and writing a checkpoint (Ctrl-C again to abort)", flush=True)

    signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


__all__ = ["NonFiniteLoss", "StopFlag", "decay_schedule", "fit", "stop_on_interrupt"]
