"""Tests for talkface_lite.data.dataset (format, atomic writer, validating loader) and its samplers."""

import json

import numpy as np
import pytest
import torch
from speaker_fixtures import toy_recording

from talkface_lite.data import dataset as ds


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    rec = toy_recording(T=10)
    out = ds.write_dataset(
        rec, tmp_path_factory.mktemp("d") / "spk", features=("mel", "mfcc"), val_fraction=0.2, progress=False
    )
    return rec, out


def test_layout_and_meta(written):
    rec, out = written
    names = {p.name for p in out.iterdir()}
    assert {
        "meta.json",
        "frames",
        "masks",
        "background.png",
        "poses.npy",
        "landmarks.npy",
        "landmarks2d.npy",
        "au45.npy",
        "audio.wav",
        "audio_mel.npy",
        "audio_mfcc.npy",
    } <= names
    meta = json.loads((out / "meta.json").read_text())
    assert meta["format_version"] == ds.FORMAT_VERSION and meta["complete"] is True
    assert (meta["height"], meta["width"], meta["n_frames"]) == (64, 80, 10)
    assert meta["splits"] == {"train": [0, 8], "val": [8, 10]}  # the last 20 % of the clip
    assert meta["features"] == {"mel": 80, "mfcc": 13}
    assert len(list((out / "frames").glob("*.png"))) == 10
    assert not list(out.parent.glob(".spk.tmp-*"))  # no temp folder left


def test_roundtrip_arrays_and_frames(written):
    rec, out = written
    d = ds.load_dataset(out)
    assert len(d) == 10 and d.height == 64 and d.width == 80
    assert np.array_equal(d.frame(3), rec.frames[3])  # PNG is lossless
    assert torch.allclose(d.poses, torch.from_numpy(rec.poses.astype(np.float32)))
    assert torch.allclose(d.landmarks2d, torch.from_numpy(rec.landmarks2d.astype(np.float32)))
    assert d.features("mel").shape == (10, 16, 80)
    assert d.train_idx.tolist() == list(range(8)) and d.val_idx.tolist() == [8, 9]
    assert np.abs(d.audio() - rec.audio).max() < 1e-4
    assert torch.equal(d.background, torch.from_numpy(rec.background.astype(np.float32) / 255.0))
    with pytest.raises(KeyError, match="not in this dataset"):
        d.features("deepspeech")
    with pytest.raises(IndexError, match="10 frames"):
        d.frame(10)


def test_refuses_existing_dataset_and_overwrites_atomically(written, tmp_path):
    rec, _ = written
    out = ds.write_dataset(rec, tmp_path / "spk", progress=False)
    with pytest.raises(FileExistsError, match="already holds a dataset.*overwrite"):
        ds.write_dataset(rec, out, progress=False)
    rec2 = toy_recording(T=6, seed=3)
    ds.write_dataset(rec2, out, overwrite=True, progress=False)
    assert ds.load_dataset(out).n_frames == 6
    assert not list(tmp_path.glob(".spk.*"))  # old copy and temp folder gone
    other = tmp_path / "notes"
    other.mkdir()
    (other / "mine.txt").write_text("keep")
    with pytest.raises(FileExistsError, match="not a talkface dataset"):
        ds.write_dataset(rec, other, overwrite=True, progress=False)
    assert (other / "mine.txt").read_text() == "keep"


def test_interrupted_write_leaves_nothing_that_loads(written, tmp_path, monkeypatch):
    rec, _ = written
    calls = {"n": 0}
    real = ds._audio.save_wav

    def crash(*a, **k):  # fail late: frames, masks and arrays are already in the temp folder
        calls["n"] += 1
        raise KeyboardInterrupt("simulated Ctrl-C")

    monkeypatch.setattr(ds._audio, "save_wav", crash)
    with pytest.raises(KeyboardInterrupt):
        ds.write_dataset(rec, tmp_path / "spk", progress=False)
    assert calls["n"] == 1
    assert not (tmp_path / "spk").exists() and not list(tmp_path.iterdir())
    with pytest.raises(ds.DatasetError, match="does not exist"):
        ds.load_dataset(tmp_path / "spk")
    # an interrupted overwrite keeps the old dataset intact
    monkeypatch.setattr(ds._audio, "save_wav", real)
    ds.write_dataset(rec, tmp_path / "spk", progress=False)
    monkeypatch.setattr(ds._audio, "save_wav", crash)
    with pytest.raises(KeyboardInterrupt):
        ds.write_dataset(toy_recording(T=5), tmp_path / "spk", overwrite=True, progress=False)
    assert ds.load_dataset(tmp_path / "spk").n_frames == rec.n_frames


def test_loader_names_the_bad_file(written, tmp_path):
    import shutil

    _, src = written

    def fresh(name):
        dst = tmp_path / name
        shutil.copytree(src, dst)
        return dst

    d = fresh("a")
    (d / "au45.npy").unlink()
    with pytest.raises(ds.DatasetError, match=r"au45\.npy is missing"):
        ds.load_dataset(d)
    d = fresh("b")
    np.save(d / "poses.npy", np.zeros((9, 4, 4), np.float32))
    with pytest.raises(ds.DatasetError, match=r"poses\.npy has shape \(9, 4, 4\), expected \(10, 4, 4\)"):
        ds.load_dataset(d)
    d = fresh("c")
    meta = json.loads((d / "meta.json").read_text())
    (d / "meta.json").write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(ds.DatasetError, match="format_version 99"):
        ds.load_dataset(d)
    (d / "meta.json").write_text(json.dumps({**meta, "complete": False}))
    with pytest.raises(ds.DatasetError, match="interrupted"):
        ds.load_dataset(d)
    d = fresh("e")
    (d / "meta.json").unlink()
    (tmp_path / ".e.tmp-123").mkdir()
    with pytest.raises(ds.DatasetError, match=r"meta\.json is missing.*interrupted write left \.e\.tmp-123"):
        ds.load_dataset(d)
    d = fresh("f")
    (d / "frames" / "000009.png").unlink()
    with pytest.raises(ds.DatasetError, match="frames lacks frames"):
        ds.load_dataset(d)


def test_recording_validation_names_the_field():
    rec = toy_recording(T=4)
    rec.au45 = np.zeros(3)
    with pytest.raises(ValueError, match=r"au45 must have shape \(4,\)"):
        rec.validate()
    rec = toy_recording(T=4)
    rec.frames = rec.frames.astype(np.float32)
    with pytest.raises(ValueError, match="uint8"):
        rec.validate()


def test_background_estimated_when_missing(tmp_path):
    rec = toy_recording(T=8)
    truth = rec.background.copy()
    rec.background = None
    d = ds.load_dataset(ds.write_dataset(rec, tmp_path / "s", progress=False))
    est = (d.background.numpy() * 255).round().astype(int)
    outside = d.mask(0, "background").numpy()
    assert np.array_equal(est[outside], truth[outside])  # the background never moves: the median is exact


def test_add_pre_extracted_features(written, tmp_path):
    import shutil

    _, src = written
    d = tmp_path / "spk"
    shutil.copytree(src, d)
    aud_ds = np.random.default_rng(0).normal(size=(10, 16, 29)).astype(np.float32)
    np.save(tmp_path / "aud_ds.npy", aud_ds)
    ds.add_features(d, "deepspeech", tmp_path / "aud_ds.npy")
    loaded = ds.load_dataset(d)
    assert torch.equal(loaded.features("deepspeech"), torch.from_numpy(aud_ds))
    assert json.loads((d / "meta.json").read_text())["features"]["deepspeech"] == 29
    with pytest.raises(FileExistsError, match="already has 'deepspeech'"):
        ds.add_features(d, "deepspeech", aud_ds)
    ds.add_features(d, "hubert", np.zeros((20, 1024), np.float32))  # 50 Hz HuBERT for 10 frames
    assert ds.load_dataset(d).features("hubert").shape == (10, 16, 1024)
    with pytest.raises(ValueError, match="covers 40 video frames but the video has 10"):
        ds.add_features(d, "other", np.zeros((40, 16, 29)))
    with pytest.raises(ValueError, match="short lowercase name"):
        ds.add_features(d, "Deep Speech!", aud_ds)
    assert not list(d.glob(".*"))


def test_write_dataset_removes_the_temp_folder_of_a_killed_writer(tmp_path):
    import subprocess
    import sys

    from talkface_lite.data.leftovers import LeftoverWarning

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # its pid no longer runs: what `kill -9` during `synth` leaves looks like this
    stale = tmp_path / f".spk.tmp-{proc.pid}"
    (stale / "frames").mkdir(parents=True)
    (stale / "frames" / "000000.png").write_bytes(b"\0" * 1000)
    with pytest.warns(
        LeftoverWarning, match=rf"removed \.spk\.tmp-{proc.pid} \(0\.00 GB\) left by a run that was killed"
    ):
        ds.write_dataset(toy_recording(T=6), tmp_path / "spk", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spk"]
