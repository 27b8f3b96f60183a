"""Tests for talkface_lite.training.loop: fit (SGD by hand, resume, stop, clipping, NaN) and decay_schedule."""

import copy
import math

import pytest
import torch

from talkface_lite.training.loop import NonFiniteLoss, decay_schedule, fit


def quadratic(w, target=3.0):
    """Step function of ``loss = (w - target)^2`` for a 1-element parameter."""
    return lambda step: {"loss": ((w - target) ** 2).sum()}


def test_sgd_on_a_quadratic_by_hand():
    # loss (w - 3)^2, grad 2 (w - 3), lr 0.1: w <- 0.8 w + 0.6, so w_k = 3 (1 - 0.8^k): 0.6, 1.08, 1.464
    w = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    hist = fit(quadratic(w), torch.optim.SGD([w], lr=0.1), 3, progress=False)
    assert float(w.detach()) == pytest.approx(1.464, abs=1e-12)
    assert hist["step"] == [0, 1, 2]
    assert hist["loss"] == pytest.approx([9.0, 5.76, 3.6864], abs=1e-12)  # (w - 3)^2 before each update
    assert "stopped_at" not in hist


def test_callbacks_get_every_step_with_float_terms():
    w = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    seen = []

    def step_fn(step):
        return {"loss": ((w - 3.0) ** 2).sum(), "w": w.detach().clone(), "n": 7}

    hist = fit(step_fn, torch.optim.SGD([w], lr=0.1), 3, callbacks=[lambda s, t: seen.append((s, t))], progress=False)
    assert [s for s, _ in seen] == [0, 1, 2]
    assert all(type(v) is float for _, t in seen for v in t.values())
    assert [t["w"] for _, t in seen] == pytest.approx([0.0, 0.6, 1.08], abs=1e-12)  # w when the step began
    assert [t["loss"] for _, t in seen] == pytest.approx([9.0, 5.76, 3.6864], abs=1e-12)
    assert hist["n"] == [7.0, 7.0, 7.0]


def test_evaluate_only_loop_without_optimizer_logs_and_changes_nothing():
    w = torch.nn.Parameter(torch.ones(1))
    hist = fit(quadratic(w), None, 2, progress=False)
    assert hist == {"step": [0, 1], "loss": [4.0, 4.0]} and float(w.detach()) == 1.0


def _adam_run(w):
    opt = torch.optim.Adam([w], lr=0.1)
    return opt, decay_schedule(opt, 5, kind="linear")


def test_resume_from_start_equals_one_run_with_adam_state():
    def step_fn_for(w):  # the target moves with the step, so a wrong step index would show
        return lambda step: {"loss": ((w - torch.tensor([step, -step], dtype=torch.float64)) ** 2).sum()}

    w_full = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    opt, sched = _adam_run(w_full)
    full = fit(step_fn_for(w_full), opt, 5, scheduler=sched, progress=False)

    w_a = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    opt_a, sched_a = _adam_run(w_a)
    first = fit(step_fn_for(w_a), opt_a, 2, scheduler=sched_a, progress=False)  # steps 0, 1
    checkpoint = copy.deepcopy(
        {"w": w_a.detach(), "opt": opt_a.state_dict(), "sched": sched_a.state_dict(), "hist": first}
    )

    w_b = torch.nn.Parameter(checkpoint["w"].clone())  # a fresh process: new parameter, optimiser, schedule
    opt_b, sched_b = _adam_run(w_b)
    opt_b.load_state_dict(checkpoint["opt"])
    sched_b.load_state_dict(checkpoint["sched"])
    resumed = fit(step_fn_for(w_b), opt_b, 5, start=2, scheduler=sched_b, history=checkpoint["hist"], progress=False)

    assert torch.equal(w_b, w_full)  # bit for bit: Adam moments and step count were restored
    assert resumed == full and resumed["step"] == [0, 1, 2, 3, 4]
    assert opt_b.param_groups[0]["lr"] == opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.1)


def test_should_stop_ends_after_the_current_step_and_records_it():
    w = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    calls = []
    hist = fit(
        quadratic(w),
        torch.optim.SGD([w], lr=0.1),
        10,
        should_stop=lambda: len(calls) >= 2,
        callbacks=[lambda s, t: calls.append(s)],
        progress=False,
    )
    assert hist["step"] == [0, 1] and hist["stopped_at"] == [1]
    assert float(w.detach()) == pytest.approx(1.08, abs=1e-12)  # two whole updates
    # a stop requested on the last step is just the end of the run
    hist = fit(quadratic(w), torch.optim.SGD([w], lr=0.1), 1, should_stop=lambda: True, progress=False)
    assert hist["step"] == [0] and "stopped_at" not in hist


def test_clip_grad_norm_by_hand():
    # loss 3a + 4b: gradient (3, 4), norm 5; clipped to norm 1 it is (3, 4) / (5 + 1e-6) (torch adds 1e-6 to
    # the norm), i.e. (0.6, 0.8) to 1e-7; SGD with lr 1 from 0 moves the parameters by minus that
    def run(clip):
        p = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
        fit(
            lambda s: {"loss": (p * torch.tensor([3.0, 4.0], dtype=torch.float64)).sum()},
            torch.optim.SGD([p], lr=1.0),
            1,
            clip_grad_norm=clip,
            progress=False,
        )
        return p.detach().tolist()

    assert run(1.0) == pytest.approx([-3 / (5 + 1e-6), -4 / (5 + 1e-6)], abs=1e-12)
    assert run(10.0) == pytest.approx([-3.0, -4.0], abs=1e-12)  # below the threshold: untouched
    assert run(None) == pytest.approx([-3.0, -4.0], abs=1e-12)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_loss_names_the_step_and_leaves_parameters(bad):
    w = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))

    def step_fn(step):
        loss = ((w - 3.0) ** 2).sum()
        return {"loss": loss * bad if step == 2 else loss}

    with pytest.raises(NonFiniteLoss, match="step 2"):
        fit(step_fn, torch.optim.SGD([w], lr=0.1), 5, progress=False)
    assert float(w.detach()) == pytest.approx(1.08, abs=1e-12)  # steps 0 and 1 applied, step 2 not


def test_decay_schedule_multipliers_by_hand():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    exp = decay_schedule(opt, 10, kind="exp").lr_lambdas[0]  # 0.1 ** (s / 10)
    assert [exp(0), exp(5), exp(10), exp(20)] == pytest.approx([1.0, 10**-0.5, 0.1, 0.1], abs=1e-15)
    lin = decay_schedule(opt, 10, kind="linear").lr_lambdas[0]  # 1 - 0.9 s / 10, held after 10
    assert [lin(0), lin(5), lin(10), lin(20)] == pytest.approx([1.0, 0.55, 0.1, 0.1], abs=1e-15)
    half = decay_schedule(opt, 10, final=0.5, kind="linear").lr_lambdas[0]
    assert half(5) == pytest.approx(0.75, abs=1e-15)
    cos = decay_schedule(opt, 10, kind="cosine").lr_lambdas[0]  # 0.1 + 0.45 (1 + cos(pi s / 10))
    assert [cos(0), cos(5), cos(10), cos(20)] == pytest.approx([1.0, 0.55, 0.1, 0.1], abs=1e-15)
    # warm-up 4 of 10 steps: 1/4, 2/4, 3/4, 1, then the linear decay over the remaining 6 steps
    warm = decay_schedule(opt, 10, kind="linear", warmup=4).lr_lambdas[0]
    assert [warm(s) for s in (0, 1, 2, 3, 4, 7, 10)] == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0, 0.55, 0.1])
    with pytest.raises(ValueError, match="unknown schedule"):
        decay_schedule(opt, 10, kind="step")
    with pytest.raises(ValueError, match="warmup must be an integer number of steps"):
        decay_schedule(opt, 10, warmup=10)


def test_decay_schedule_in_fit_ends_at_final_lr():
    w = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([w], lr=0.2)
    fit(quadratic(w), opt, 4, scheduler=decay_schedule(opt, 4, kind="linear"), progress=False)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.02, abs=1e-15)  # 0.2 * (1 - 0.9 * 4/4)
