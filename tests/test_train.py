"""Two-stage training of the talking-head field: exact resume, atomic checkpoints, clear refusals."""

import json
import subprocess
import sys

import pytest
import torch

from talkface_lite.data.synthetic import cached_speaker
from talkface_lite.training import RunError, TrainConfig, load_run, read_metrics, render_frames, train
from talkface_lite.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return cached_speaker(seconds=4, size=64, seed=0, root=tmp_path_factory.mktemp("cache"), progress=False)


def tiny(**kw):
    field = dict(
        tri_levels=4, tri_log2=10, tri_base=8, tri_finest=64, lm_levels=2, sh_degree=2, hidden=32, **kw.pop("field", {})
    )
    base = dict(
        coarse_steps=6,
        fine_steps=4,
        n_rays=64,
        n_samples=24,
        grid_resolution=16,
        grid_update_every=4,
        dlt_steps=2,
        patch_size=24,
        ckpt_every=3,
        blink_frame_fraction=0.5,
        field=field,
    )
    base.update(kw)
    return TrainConfig(**base)


def params(head):
    return {k: v.clone() for k, v in head.field.state_dict().items()}


def test_interrupted_run_resumes_to_the_same_parameters(dataset, tmp_path):
    straight = train(dataset, tmp_path / "a", tiny(), progress=False)
    assert straight.step == 10
    calls = {"n": 0}

    def stop():  # asked after every step: stop after the 5th (in the coarse stage) as Ctrl-C would
        calls["n"] += 1
        return calls["n"] == 5

    part = train(dataset, tmp_path / "b", tiny(), progress=False, should_stop=stop)
    assert part.step == 5
    assert load_checkpoint(tmp_path / "b" / "ckpt.pt")["step"] == 5
    resumed = train(dataset, tmp_path / "b", tiny(), progress=False, resume=True)
    assert resumed.step == 10
    a, b = params(straight), params(resumed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert torch.equal(straight.grid.density, resumed.grid.density)
    ma, mb = read_metrics(tmp_path / "a"), read_metrics(tmp_path / "b")
    assert list(mb["step"]) == list(range(10)) and list(ma["stage"]) == ["coarse"] * 6 + ["fine"] * 4
    assert (ma["loss"] == mb["loss"]).all()
    assert not (mb["lpips"][6:] != mb["lpips"][6:]).any()  # the fine stage logs LPIPS
    cfg = json.loads((tmp_path / "a" / "config.json").read_text())
    assert cfg["lpips"] in ("ST-LPIPS (alex)", "LPIPS (alex, v0.1)") and cfg["field"]["variant"] == "dlt_eye"
    assert (tmp_path / "a" / "coarse.pt").is_file()


def test_stage_coarse_then_fine_equals_all(dataset, tmp_path):
    whole = train(dataset, tmp_path / "all", tiny(), progress=False)
    first = train(dataset, tmp_path / "split", tiny(), stage="coarse", progress=False)
    assert first.step == 6
    with pytest.raises(RunError, match="stage 'fine' continues a coarse run"):
        train(dataset, tmp_path / "other", tiny(), stage="fine", progress=False)
    second = train(dataset, tmp_path / "split", tiny(), stage="fine", resume=True, progress=False)
    a, b = params(whole), params(second)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_half_written_checkpoint_is_never_loaded(dataset, tmp_path):
    run = tmp_path / "r"
    train(dataset, run, tiny(coarse_steps=3, fine_steps=0), progress=False)
    good = (run / "ckpt.pt").read_bytes()
    (run / ".ckpt.pt.tmp-99999").write_bytes(good[: len(good) // 2])  # a crash mid-write leaves only this
    assert load_run(run).step == 3
    (run / "ckpt.pt").write_bytes(good[: len(good) // 2])  # a file truncated by something else
    with pytest.raises(CheckpointError, match="damaged"):
        load_run(run)
    with pytest.raises(CheckpointError, match="damaged"):
        train(dataset, run, tiny(coarse_steps=3, fine_steps=0), resume=True, progress=False)


def test_checkpoints_load_weights_only(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pickled code ran",))

    path = tmp_path / "x.pt"
    torch.save({"format": 1, "kind": "talking_head", "payload": Evil()}, path)
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_checkpoint(path)


def test_checkpoint_from_another_variant_or_version_is_refused(dataset, tmp_path):
    run = tmp_path / "r"
    train(dataset, run, tiny(coarse_steps=3, fine_steps=0), progress=False)
    state = load_checkpoint(run / "ckpt.pt")
    save_checkpoint(run / "ckpt.pt", {**state, "version": "0.0.1"})
    with pytest.raises(CheckpointError, match=r"version='0.0.1' but this run needs version="):
        load_run(run)
    save_checkpoint(run / "ckpt.pt", {**state, "variant": "hash3d"})
    with pytest.raises(CheckpointError, match=r"variant='hash3d' but this run needs variant='dlt_eye'"):
        load_run(run)


def test_bad_inputs_are_refused_before_any_work(dataset, tmp_path):
    with pytest.raises(RunError, match="does not validate"):
        train(tmp_path / "nowhere", tmp_path / "r", tiny(), progress=False)
    with pytest.raises(RunError, match=r"no 'deepspeech' audio features \(it has \['mel'\]\)"):
        train(dataset, tmp_path / "r", tiny(audio_kind="deepspeech"), progress=False)
    assert not (tmp_path / "r").exists()
    run = tmp_path / "exists"
    run.mkdir()
    (run / "notes.txt").write_text("mine")
    with pytest.raises(RunError, match="already exists: pass resume=True"):
        train(dataset, run, tiny(), progress=False)
    assert (run / "notes.txt").read_text() == "mine"
    with pytest.raises(RunError, match="nothing to resume"):
        train(dataset, run, tiny(), progress=False, resume=True)
    done = tmp_path / "done"
    train(dataset, done, tiny(coarse_steps=2, fine_steps=0), progress=False)
    with pytest.raises(RunError, match=r"other settings: field.variant \(run: 'dlt_eye', given: 'hash3d'\)"):
        train(
            dataset, done, tiny(coarse_steps=2, fine_steps=0, field={"variant": "hash3d"}), progress=False, resume=True
        )


def test_cli_refuses_an_existing_run_folder(dataset, tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    (run / "x").write_text("")
    res = subprocess.run(
        [sys.executable, "-m", "talkface_lite.cli", "train", str(dataset), str(run), "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 2
    assert "already exists" in res.stderr and "Traceback" not in res.stderr


def test_render_frames_and_overrides(dataset, tmp_path):
    head = train(dataset, tmp_path / "r", tiny(coarse_steps=3, fine_steps=0), progress=False)
    imgs = render_frames(tmp_path / "r", [0, 1], progress=False)
    assert imgs.shape == (2, 64, 64, 3) and float(imgs.min()) >= 0 and float(imgs.max()) <= 1
    same = render_frames(head, [0], progress=False)
    assert torch.allclose(same[0], imgs[0], atol=1e-6)
    with pytest.raises(ValueError, match="give one per frame"):
        render_frames(head, [0, 1], conditions=[{}], progress=False)


def test_cached_run_trains_once_then_loads(dataset, tmp_path):
    from talkface_lite.training import cached_run

    first = cached_run(dataset, tiny(coarse_steps=3, fine_steps=0), root=tmp_path)
    stamp = (first.run_dir / "ckpt.pt").stat().st_mtime_ns
    again = cached_run(dataset, tiny(coarse_steps=3, fine_steps=0), root=tmp_path)
    assert again.run_dir == first.run_dir and again.step == 3
    assert (again.run_dir / "ckpt.pt").stat().st_mtime_ns == stamp  # loaded, not retrained
    other = cached_run(dataset, tiny(coarse_steps=4, fine_steps=0), root=tmp_path)
    assert other.run_dir != first.run_dir and other.step == 4


def test_dlt_landmarks_drive_the_field_and_travel_with_the_run(dataset, tmp_path):
    from talkface_lite.data.dataset import load_dataset

    head = train(
        dataset, tmp_path / "r", tiny(coarse_steps=2, fine_steps=0, landmarks="dlt", dlt_steps=3), progress=False
    )
    gt = load_dataset(dataset).landmarks
    assert head.landmarks.shape == gt.shape and not torch.allclose(head.landmarks, gt)
    assert head.dlt_state is not None
    again = load_run(tmp_path / "r")
    assert torch.equal(again.landmarks, head.landmarks)


def test_cli_trains_then_resumes_with_the_runs_own_settings(dataset, tmp_path):
    run = tmp_path / "r"
    cmd = [
        sys.executable,
        "-m",
        "talkface_lite.cli",
        "train",
        str(dataset),
        str(run),
        "--quiet",
        "--coarse-steps",
        "2",
        "--fine-steps",
        "0",
        "--variant",
        "no_dlt_no_eye",
        "--dlt-steps",
        "2",
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "coarse done" not in res.stdout and "all done at step 2" in res.stdout
    assert json.loads((run / "config.json").read_text())["n_rays"] == TrainConfig.quick().n_rays
    res = subprocess.run(
        cmd[:6] + ["--quiet", "--resume", "--coarse-steps", "3", "--fine-steps", "0"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert "no_dlt_no_eye, all done at step 3" in res.stdout


def test_ctrl_c_stops_between_steps_and_resume_finishes(dataset, tmp_path):
    import signal
    import time

    run = tmp_path / "r"
    cmd = [
        sys.executable,
        "-m",
        "talkface_lite.cli",
        "train",
        str(dataset),
        str(run),
        "--quiet",
        "--coarse-steps",
        "400",
        "--fine-steps",
        "0",
        "--dlt-steps",
        "2",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline:  # wait until a few steps are logged
        if (run / "metrics.csv").exists() and len((run / "metrics.csv").read_text().splitlines()) > 4:
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "stopping after this step" in out and "continue with --resume" in out and "Traceback" not in err
    step = load_checkpoint(run / "ckpt.pt")["step"]
    assert 4 <= step < 400
    assert len(read_metrics(run)["step"]) == step  # every logged step is in the checkpoint, none beyond
    res = subprocess.run(cmd[:6] + ["--quiet", "--resume"], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert load_checkpoint(run / "ckpt.pt")["step"] == 400


def test_cli_defaults_to_the_quick_preset():
    import argparse

    from talkface_lite.commands import train as cmd

    parser = argparse.ArgumentParser()
    cmd.add_arguments(parser)
    assert parser.parse_args(["d", "r"]).full is None  # not given: QUICK for a new run (see the test below)
    assert parser.parse_args(["d", "r", "--quick"]).full is False
    assert parser.parse_args(["d", "r", "--full"]).full is True


def test_resume_extends_the_stage_in_progress_and_records_it(dataset, tmp_path):
    run = tmp_path / "r"
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return calls["n"] == 4

    train(dataset, run, tiny(), progress=False, should_stop=stop)  # stopped at step 4, in the coarse stage (6)
    head = train(dataset, run, tiny(coarse_steps=8, fine_steps=4), progress=False, resume=True)
    assert head.step == 12
    saved = json.loads((run / "config.json").read_text())
    assert (saved["coarse_steps"], saved["fine_steps"]) == (8, 4) and "dataset_id" in saved
    stages = list(read_metrics(run)["stage"])
    assert stages == ["coarse"] * 8 + ["fine"] * 4  # one coarse stage, then one fine stage: never back
    wall = read_metrics(run)["wall_s"]
    assert (wall[1:] >= wall[:-1]).all()  # wall time counts on across the resume
    head = train(dataset, run, tiny(coarse_steps=8, fine_steps=6), progress=False, resume=True)
    assert head.step == 14 and list(read_metrics(run)["stage"])[-2:] == ["fine", "fine"]
    with pytest.raises(
        RunError,
        match=r"finished its coarse stage at step 8 and is at step 14: its coarse steps "
        r"cannot change now",
    ):
        train(dataset, run, tiny(coarse_steps=20, fine_steps=6), progress=False, resume=True)
    with pytest.raises(RunError, match="already at step 14"):
        train(dataset, run, tiny(coarse_steps=8, fine_steps=2), progress=False, resume=True)
    assert json.loads((run / "config.json").read_text())["fine_steps"] == 6  # refusals change nothing


def test_resume_on_another_dataset_is_refused(dataset, tmp_path):
    other = cached_speaker(seconds=4, size=64, seed=1, root=tmp_path / "cache", progress=False)  # same frame count
    train(dataset, tmp_path / "r", tiny(coarse_steps=2, fine_steps=0), progress=False)
    with pytest.raises(RunError, match=r"was trained on the dataset .*, not .*: resume it on that dataset"):
        train(other, tmp_path / "r", tiny(coarse_steps=4, fine_steps=0), progress=False, resume=True)


def test_cli_resume_refuses_changed_settings_in_one_line(dataset, tmp_path):
    run = tmp_path / "r"
    cmd = [
        sys.executable,
        "-m",
        "talkface_lite.cli",
        "train",
        str(dataset),
        str(run),
        "--quiet",
        "--coarse-steps",
        "2",
        "--fine-steps",
        "0",
        "--dlt-steps",
        "2",
    ]
    assert subprocess.run(cmd, capture_output=True, text=True, timeout=300).returncode == 0
    res = subprocess.run(cmd + ["--resume", "--variant", "hash3d"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0
    assert "--variant hash3d (the run has dlt_eye)" in res.stderr and "start a new run" in res.stderr
