"""Tests for the static NeRF: cameras, the procedural head, the field (models.static_nerf) and its fitting loop."""

import dataclasses
import math

import pytest
import torch

from talkface_lite import cameras, rendering
from talkface_lite.data.synthetic.scene import EllipsoidHead
from talkface_lite.encoding.hashgrid import HashGrid, HashGridConfig, matched_hashgrid_log2
from talkface_lite.encoding.triplane import TriPlane, TriPlaneConfig
from talkface_lite.models.layers import BoxEncoding, count_parameters, trunc_exp
from talkface_lite.models.static_nerf import StaticNeRF
from talkface_lite.training.memory import SavedTensorMeter
from talkface_lite.training.static_nerf import fit_static_nerf


def test_look_at_is_identity_for_a_camera_on_minus_z():
    torch.testing.assert_close(cameras.look_at((0.0, 0.0, -3.0))[:3, :3], torch.eye(3))


def test_look_at_from_plus_x_by_hand():
    c2w = cameras.look_at((3.0, 0.0, 0.0))
    # forward -x; right = down x forward = (0,1,0) x (-1,0,0) = (0,0,1); camera y stays world down (+y)
    torch.testing.assert_close(c2w[:3, 2], torch.tensor([-1.0, 0.0, 0.0]))
    torch.testing.assert_close(c2w[:3, 0], torch.tensor([0.0, 0.0, 1.0]))
    torch.testing.assert_close(c2w[:3, 1], torch.tensor([0.0, 1.0, 0.0]))
    with pytest.raises(ValueError, match="parallel"):
        cameras.look_at((0.0, -3.0, 0.0))


def test_orbit_cameras_look_at_the_origin_from_the_front():
    poses = cameras.orbit_poses(12, radius=2.5)
    eyes, fwd = poses[:, :3, 3], poses[:, :3, 2]
    torch.testing.assert_close(eyes.norm(dim=-1), torch.full((12,), 2.5))
    torch.testing.assert_close(fwd, -eyes / 2.5)
    assert (eyes[:, 2] < 0).all()  # all on the face side
    # the centre pixel ray of every camera passes through the origin
    o, d = rendering.pixel_rays((10.0, 10.0, 8.0, 8.0), poses, torch.full((12, 2), 8.0))
    torch.testing.assert_close(o + 2.5 * d, torch.zeros(12, 3), atol=1e-5, rtol=0)


def test_ellipsoid_head_density_and_colours():
    head = EllipsoidHead()
    sig, rgb = head(torch.tensor([[0.0, 0.0, 0.0], [0.95, 0.95, 0.95], [0.0, 0.33, -0.5]]))
    assert sig[0] > 30 and sig[1] < 1e-3
    torch.testing.assert_close(rgb[0], torch.tensor(head.PARTS[0][2]))  # skin at the centre
    torch.testing.assert_close(rgb[2], torch.tensor(head.PARTS[-1][2]))  # lips at the lip centre


def test_trunc_exp_clamps_the_gradient():
    x = torch.tensor([0.0, 20.0], requires_grad=True)
    y = trunc_exp(x)
    y.sum().backward()
    torch.testing.assert_close(y.detach(), torch.exp(torch.tensor([0.0, 20.0])))
    torch.testing.assert_close(x.grad, torch.tensor([1.0, math.exp(15.0)]))


def test_field_shapes_ranges_and_gradients_reach_the_tables():
    tri = TriPlaneConfig(n_levels=2, log2_hashmap_size=8, base_resolution=4, finest_resolution=8)
    model = StaticNeRF(TriPlane(tri), hidden=16)
    pts = torch.rand(50, 3) * 2 - 1
    sig, rgb = model(pts)
    assert sig.shape == (50,) and rgb.shape == (50, 3) and (sig > 0).all() and ((rgb > 0) & (rgb < 1)).all()
    (sig.sum() + rgb.sum()).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoding_parameters())
    with pytest.raises(ValueError, match="directions"):
        StaticNeRF(model.encoding, view_dependent=True)(pts)


def test_matched_hashgrid_has_the_closest_parameter_count():
    target = 100_000
    template = HashGridConfig.from_finest(3, 128, n_levels=8, n_features_per_level=2, base_resolution=16)
    best = matched_hashgrid_log2(target, template)

    def count(t):
        return HashGrid(dataclasses.replace(template, log2_hashmap_size=t), device="meta").table.numel()

    assert abs(count(best) - target) <= min(abs(count(best - 1) - target), abs(count(best + 1) - target))


def test_saved_tensor_meter_counts_activation_bytes_by_hand():
    x = torch.randn(1000)  # float32, does not need a gradient
    w = torch.randn(1000, requires_grad=True)
    with SavedTensorMeter() as meter:
        (x * w).sum()  # mul saves x (to compute dw) and nothing else
    assert meter.bytes == 4000


def test_fitting_improves_held_out_psnr():
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    H, K, box = 12, (14.0, 14.0, 6.0, 6.0), [-0.9, -0.9, -0.9, 0.9, 0.9, 0.9]
    head = EllipsoidHead()
    poses = cameras.orbit_poses(6)
    images = torch.stack([rendering.render_image(head, K, p, H, H, box, 32)[0] for p in poses])
    grid = HashGridConfig.from_finest(
        3, 32, n_levels=4, n_features_per_level=2, log2_hashmap_size=12, base_resolution=4
    )
    model = StaticNeRF(BoxEncoding(HashGrid(grid), bound=0.9), hidden=32)
    hist = fit_static_nerf(
        model,
        images,
        poses,
        K,
        box,
        steps=60,
        n_rays=128,
        n_samples=16,
        eval_views=[3],
        eval_every=60,
        occupancy_resolution=8,
        generator=g,
        progress=False,
    )
    assert hist["step"] == [0, 60]
    assert hist["psnr_eval"][1] > hist["psnr_eval"][0] + 3.0
    assert hist["activation_mb"][0] > 0 and hist["n_params"][0] == count_parameters(model)
    assert max(hist["samples"]) <= 128 * 16 * 2  # marching never exceeds ~ diagonal / step samples per ray
    with pytest.raises(ValueError, match="held out"):
        fit_static_nerf(model, images[:1], poses[:1], K, box, steps=1, eval_views=[0], progress=False)
