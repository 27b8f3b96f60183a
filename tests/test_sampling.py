"""Tests for talkface_lite.data.sampling: the loaded dataset's masks, ray sampler, patches and region crops."""

import numpy as np
import pytest
import torch
from speaker_fixtures import toy_recording

from talkface_lite.data import dataset as ds


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    rec = toy_recording(T=10)
    out = ds.write_dataset(
        rec, tmp_path_factory.mktemp("d") / "spk", features=("mel",), val_fraction=0.2, progress=False
    )
    return rec, out


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
    assert (
        (face["xy"][:, 0] >= x0) & (face["xy"][:, 0] < x1) & (face["xy"][:, 1] >= y0) & (face["xy"][:, 1] < y1)
    ).all()


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


def test_getitem_and_split_names(written):
    _, out = written
    d = ds.load_dataset(out)
    item = d[9]
    assert item["image"].shape == (64, 80, 3) and item["audio_mel"].shape == (16, 80) and item["frame"] == 9
    assert d.split("all").tolist() == list(range(10))
    with pytest.raises(ValueError, match="unknown split"):
        d.split("test")
    assert "10 frames 64x80" in repr(d)
