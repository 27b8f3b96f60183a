"""Evaluation rows and tables: our rows labelled, the paper's rows apart, clear refusals."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from talkface_lite import evaluate as E
from talkface_lite.data.synthetic import cached_speaker
from talkface_lite.training import TrainConfig, train


@pytest.fixture(scope="module")
def head(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    ds = cached_speaker(seconds=4, size=64, seed=0, root=root / "cache", progress=False, val_fraction=0.25)
    cfg = TrainConfig(
        coarse_steps=20,
        fine_steps=0,
        n_rays=128,
        n_samples=24,
        grid_resolution=16,
        dlt_steps=2,
        field=dict(tri_levels=4, tri_log2=10, tri_base=8, tri_finest=64, lm_levels=2, sh_degree=2, hidden=32),
    )
    return train(ds, root / "run", cfg, progress=False)


def test_self_driven_row_is_labelled(head):
    expert = E.sync_expert_for(head.dataset, "mel", steps=5)
    row = E.self_driven(head, fid=False, expert=expert, progress=False)
    assert row["method"] == "w Tri-Hash w E w D" and row["variant"] == "dlt_eye" and row["resolution"] == "64x64"
    assert row["frames"] == 25 and row["mode"] == "QUICK" and row["landmarks"] == "dlt"
    assert np.isfinite(row["psnr"]) and np.isfinite(row["psnr_face"]) and row["lpips"] >= 0
    assert "LPIPS" in row["networks"] and "sync expert" in row["networks"] and "FID: not computed" in row["networks"]
    with pytest.raises(ValueError, match="at least 10 contiguous frames"):
        E.self_driven(head, frames=[0, 1, 2], fid=False, expert=expert, progress=False)


def test_gt_sync_margin_prefers_aligned_audio():
    """On the ground truth of a 20 s clip the expert scores the aligned mouth above a shifted one."""
    from talkface_lite.data.dataset import load_dataset

    ds = load_dataset(cached_speaker(seconds=20, size=64, seed=0, progress=False))
    expert = E.sync_expert_for(ds, "mel", steps=200)
    lm2, feats = ds.landmarks2d.numpy()[:300], ds.features("mel")[:300]
    assert E.sync_margin(expert, lm2, feats) > E.sync_margin(expert, np.roll(lm2, 40, axis=0), feats) + 0.05


def test_tables_keep_the_papers_rows_apart(tmp_path, monkeypatch):
    monkeypatch.setenv("TALKFACE_FIGURES", str(tmp_path))
    row = {k: 1.0 for k in E.COLUMNS}
    row.update(
        method="Ours (w Tri-Hash w E w D)",
        data="d",
        resolution="64x64",
        mode="QUICK",
        landmarks="dlt",
        networks="LPIPS: ST-LPIPS (alex)",
    )
    text = E.write_table([row], "t3", paper="III")
    ours, paper = text.split("### Reported in the paper")
    assert "Ours (w Tri-Hash w E w D)" in ours and "35.907" not in ours
    assert "35.907" in paper and "not comparable" in paper
    assert (tmp_path / "t3.csv").read_text().count("\n") == 2  # header + our one row, no paper rows


def test_fill_gaps_interpolates_missed_detections():
    lm = np.zeros((5, 68, 2))
    lm[:, :, 0] = np.arange(5.0)[:, None]
    lm[2] = np.nan
    assert np.allclose(E._fill_gaps(lm)[2], 2.0 * np.array([1.0, 0.0]))


def test_cli_evaluate_refuses_a_missing_run(tmp_path):
    res = subprocess.run(
        [sys.executable, "-m", "talkface_lite.cli", "evaluate", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 2 and "is not a run folder" in res.stderr and "Traceback" not in res.stderr


def test_sync_expert_is_the_same_every_time(head):
    a = E.sync_expert_for(head.dataset, "mel", steps=5)
    b = E.sync_expert_for(head.dataset, "mel", steps=5)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_cli_evaluate_checks_the_table_name_before_work(head, tmp_path):
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "talkface_lite.cli",
            "evaluate",
            str(head.run_dir),
            "--name",
            "../../escape",
            "--no-fid",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 2 and "must be a plain file stem" in res.stderr and "Traceback" not in res.stderr
