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
    out = ds.write_dataset(rec, tmp_path_factory.mktemp("d") / "spk", features=("mel", "mfcc"), val_fraction=0.2,
                           progress=False)
    return rec, out


def test_layout_and_meta(written):
    rec, out = written
    names = {p.name for p in out.iterdir()}
    assert {"meta.json", "frames", "masks", "background.png", "poses.npy", "landmarks.npy", "landmarks2d.npy",
            "au45.npy", "audio.wav", "audio_mel.npy", "audio_mfcc.npy"} <= names
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


def test_masks_cover_the_drawn_face(written):
    rec, out = written
    d = ds.load_dataset(out)
    face, mouth, bg = d.mask(0, "face"), d.mask(0, "mouth"), d.mask(0, "background")
    lips = rec.landmarks2d[0, 48:60].mean(axis=0).round().astype(int)
    assert mouth[lips[1], lips[0]] and face[lips[1], lips[0]] and not bg[lips[1], lips[0]]
    assert bg[0, 0] and not face[0, 0]  # the image corner is background
    assert (mouth & ~face).sum() < 0.05 * mouth.sum()  # the mouth lies (almost) inside the face


def test_ray_sampler_targets_and_directions(written):
    rec, out = written
    d = ds.load_dataset(out)
    g = torch.Generator().manual_seed(0)
    b = d.sample_rays(64, split="val", generator=g)
    assert b["frame"] in (8, 9)
    assert b["rgb"].shape == (64, 3) and b["rays_o"].shape == (64, 3) and b["audio"].shape == (16, 80)
    img = torch.from_numpy(rec.frames[b["frame"]].astype(np.float32) / 255)
    assert torch.equal(b["rgb"], img[b["xy"][:, 1], b["xy"][:, 0]])
    assert torch.allclose(b["rays_d"].norm(dim=-1), torch.ones(64), atol=1e-5)
    # every ray starts at the camera centre of that frame's pose
    assert torch.allclose(b["rays_o"], d.poses[b["frame"], :3, 3].expand(64, 3))
    # the ray through the nose tip passes within 0.05 dm of the template nose tip (world = head frame)
    nose = rec.landmarks2d[4, 30]
    one = d._pack(4, torch.tensor([[int(nose[0]), int(nose[1])]]), None)
    p = rec.landmarks[4, 30]
    o, v = one["rays_o"][0].double().numpy(), one["rays_d"][0].double().numpy()
    assert np.linalg.norm(np.cross(p - o, v)) < 0.08  # pixel quantisation of a 64x80 image
    face = d.sample_rays(200, frame=2, face_fraction=1.0, generator=g)
    x0, y0, x1, y1 = d.rect(2, "face")
    assert ((face["xy"][:, 0] >= x0) & (face["xy"][:, 0] < x1) & (face["xy"][:, 1] >= y0) & (face["xy"][:, 1] < y1)).all()


def test_patches_and_region_crop(written):
    _, out = written
    d = ds.load_dataset(out)
    g = torch.Generator().manual_seed(1)
    p = d.sample_patch(size=8, region="face", frame=1, generator=g)
    x0, y0, x1, y1 = d.rect(1, "face")
    cx, cy, cx2, cy2 = p["rect"]
    assert x0 <= cx and cx2 <= x1 and y0 <= cy and cy2 <= y1 and cx2 - cx == 8
    assert p["rgb"].shape == (64, 3)
    crop = d.region_crop(1, "mouth", min_size=32)
    h, w = crop["shape"]
    assert h >= 32 and w >= 32 and crop["rgb"].shape == (h * w, 3)  # lip rectangle padded to 32 px
    with pytest.raises(ValueError, match="does not fit"):
        d.sample_patch(size=100)


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
