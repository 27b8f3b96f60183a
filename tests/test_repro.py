"""talkface_lite.repro: seeding, device choice, manifests, atomic writes."""

import json
from importlib import metadata

import numpy as np
import pytest
import torch

from talkface_lite import repro


def test_same_seed_same_numbers_everywhere():
    repro.seed_everything(123)
    a = (torch.rand(5), np.random.rand(5), __import__("random").random())
    repro.seed_everything(123)
    b = (torch.rand(5), np.random.rand(5), __import__("random").random())
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]
    repro.seed_everything(124)
    assert not torch.equal(a[0], torch.rand(5))


def test_choose_device():
    assert repro.choose_device("cpu").type == "cpu"
    assert repro.choose_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="unknown device"):
        repro.choose_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_says_what_to_do():
    with pytest.raises(ValueError, match="--device cpu"):
        repro.choose_device("cuda")


def test_start_run_writes_manifest(tmp_path, monkeypatch):
    monkeypatch.setenv("TALKFACE_BUILD", str(tmp_path))
    run = repro.start_run("99_test_run", quick=True, device="cpu", seed=7, lr=0.01)
    data = json.loads(run.manifest_path.read_text())
    assert run.manifest_path == tmp_path / "runs" / "99_test_run.json"
    assert data["mode"] == "QUICK" and data["device"] == "cpu" and data["seed"] == 7
    assert data["config"] == {"lr": 0.01}
    assert data["versions"]["torch"] == metadata.version("torch")
    assert data["wall_time_s"] is None and data["commit"]
    run.finish()
    assert json.loads(run.manifest_path.read_text())["wall_time_s"] >= 0
    assert repro.active_run() is run


def test_record_adds_derived_settings_to_the_manifest(tmp_path, monkeypatch):
    import dataclasses

    from talkface_lite.encoding.hashgrid import HashGridConfig

    monkeypatch.setenv("TALKFACE_BUILD", str(tmp_path))
    run = repro.start_run("99_test_record", quick=True, device="cpu", seed=0, lr=0.01)
    assert json.loads(run.manifest_path.read_text())["recorded"] == {}
    cfg = HashGridConfig(2, n_levels=2, log2_hashmap_size=8)
    assert run.record(grid=cfg.describe(), raw=cfg, log2=12) is None  # nothing echoed by a notebook cell
    data = json.loads(run.manifest_path.read_text())  # written at once, before finish()
    assert data["recorded"]["grid"]["resolutions"] == [16, 32] and data["recorded"]["log2"] == 12
    assert data["recorded"]["raw"] == dataclasses.asdict(cfg) and data["config"] == {"lr": 0.01}
    run.record(log2=13)  # a name recorded again is replaced, the others stay
    run.finish()
    data = json.loads(run.manifest_path.read_text())
    assert data["recorded"]["log2"] == 13 and "grid" in data["recorded"] and data["wall_time_s"] >= 0
    assert [p.name for p in run.manifest_path.parent.iterdir()] == ["99_test_record.json"]  # no temp files left


def test_atomic_write_leaves_no_temp_files(tmp_path):
    target = tmp_path / "sub" / "x.txt"
    repro.atomic_write_text(target, "one")
    repro.atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert [p.name for p in target.parent.iterdir()] == ["x.txt"]


def test_project_root_is_the_checkout():
    root = repro.project_root()
    assert (root / "pyproject.toml").is_file() and (root / "talkface_lite" / "repro.py").is_file()


def test_output_dir_follows_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TALKFACE_FIGURES", str(tmp_path / "figs"))
    assert repro.output_dir() == (tmp_path / "figs").resolve() and (tmp_path / "figs").is_dir()
