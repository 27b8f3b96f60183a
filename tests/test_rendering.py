"""Tests for talkface_lite.rendering: rays, near/far, sampling, compositing (dense and packed)."""

import math

import pytest
import torch

from talkface_lite import rendering as R

# nerfacc-style hand example: alphas [0, 0.3, 0.8, 0.8, 0.5] with unit intervals
ALPHAS = torch.tensor([[0.0, 0.3, 0.8, 0.8, 0.5]], dtype=torch.float64)
SIGMAS = -torch.log1p(-ALPHAS)  # sigma * delta = -log(1 - alpha) with delta = 1
EXPECTED_T = torch.tensor([[1.0, 1.0, 0.7, 0.14, 0.028]], dtype=torch.float64)
EXPECTED_W = torch.tensor([[0.0, 0.3, 0.56, 0.112, 0.014]], dtype=torch.float64)


def unit_samples(n_rays, n_samples, dtype=torch.float64):
    starts = torch.arange(n_samples, dtype=dtype).expand(n_rays, n_samples)
    return R.RaySamples(starts, starts + 1.0, starts + 0.5)


def test_weights_and_transmittance_match_hand_derivation():
    w, t, a = R.render_weights(SIGMAS, torch.ones_like(SIGMAS))
    torch.testing.assert_close(t, EXPECTED_T)
    torch.testing.assert_close(w, EXPECTED_W)
    torch.testing.assert_close(a, ALPHAS)


def test_composite_rgb_depth_opacity_by_hand():
    rgbs = torch.zeros(1, 5, 3, dtype=torch.float64)
    rgbs[0, :, 0] = 1.0  # all red
    out = R.composite(rgbs, SIGMAS, unit_samples(1, 5), background=torch.tensor([0.0, 0.0, 1.0]))
    opacity = EXPECTED_W.sum()  # 1.0 - 0.014 = 0.986
    torch.testing.assert_close(out.opacity, opacity.reshape(1))
    torch.testing.assert_close(out.rgb, torch.tensor([[opacity, 0.0, 1.0 - opacity]], dtype=torch.float64))
    depth = (EXPECTED_W * torch.tensor([0.5, 1.5, 2.5, 3.5, 4.5], dtype=torch.float64)).sum()
    torch.testing.assert_close(out.depth, depth.reshape(1))


def random_scene(n_rays=6, n_samples=7, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    near = torch.rand(n_rays, generator=g, dtype=dtype)
    far = near + 1.0 + torch.rand(n_rays, generator=g, dtype=dtype)
    samples = R.sample_stratified(near, far, n_samples, jitter=True, generator=g)
    sigmas = 3.0 * torch.rand(n_rays, n_samples, generator=g, dtype=dtype)
    rgbs = torch.rand(n_rays, n_samples, 3, generator=g, dtype=dtype)
    return samples, sigmas, rgbs


def test_packed_equals_dense_forward_and_backward():
    samples, sigmas, rgbs = random_scene()
    sigmas.requires_grad_(True)
    rgbs.requires_grad_(True)
    bg = torch.tensor([0.2, 0.4, 0.6], dtype=torch.float64)
    dense = R.composite(rgbs, sigmas, samples, background=bg)
    ts, te, tm, ri, sig_p, rgb_p = R.dense_to_packed(samples, sigmas, rgbs)
    packed = R.composite_packed(rgb_p, sig_p, ts, te, ri, n_rays=6, t_mids=tm, background=bg, backend="torch")
    for name in ("rgb", "depth", "opacity"):
        torch.testing.assert_close(getattr(packed, name), getattr(dense, name))
    torch.testing.assert_close(packed.weights, dense.weights.reshape(-1))
    torch.testing.assert_close(packed.transmittance, dense.transmittance.reshape(-1))
    gd = torch.autograd.grad((dense.rgb.sum() + dense.depth.sum()), (sigmas, rgbs))
    gp = torch.autograd.grad((packed.rgb.sum() + packed.depth.sum()), (sigmas, rgbs))
    torch.testing.assert_close(gp[0], gd[0])
    torch.testing.assert_close(gp[1], gd[1])


def test_ragged_packed_equals_dense_padded_with_empty_space():
    # ray 0: 3 samples, ray 1: none, ray 2: 5 samples; dense pads with sigma = 0 (no contribution)
    counts = torch.tensor([3, 0, 5])
    samples, sigmas, rgbs = random_scene(n_rays=3, n_samples=5, seed=3)
    mask = torch.arange(5)[None, :] < counts[:, None]
    sig_dense = torch.where(mask, sigmas, torch.zeros_like(sigmas))
    dense = R.composite(rgbs, sig_dense, samples, background=torch.ones(3))
    ri = R.ray_indices_from_chunks(counts)
    packed = R.composite_packed(
        rgbs[mask],
        sigmas[mask],
        samples.t_starts[mask],
        samples.t_ends[mask],
        ri,
        3,
        t_mids=samples.t_mids[mask],
        background=torch.ones(3),
        backend="torch",
    )
    torch.testing.assert_close(packed.rgb, dense.rgb)
    torch.testing.assert_close(packed.depth, dense.depth)
    assert packed.opacity[1] == 0 and torch.equal(packed.rgb[1], torch.ones(3, dtype=torch.float64))


def test_chunks_round_trip_and_unsorted_error():
    counts = torch.tensor([2, 0, 3, 1])
    ri = R.ray_indices_from_chunks(counts)
    assert ri.tolist() == [0, 0, 2, 2, 2, 3]
    starts, cnt = R.chunks_from_ray_indices(ri, 4)
    assert starts.tolist() == [0, 2, 2, 5] and cnt.tolist() == [2, 0, 3, 1]
    with pytest.raises(ValueError, match="sorted"):
        R.chunks_from_ray_indices(torch.tensor([1, 0]), 2)


def test_packed_exclusive_sum_resets_per_ray():
    vals = torch.tensor([1.0, 2.0, 3.0, 10.0, 20.0])
    ri = torch.tensor([0, 0, 0, 2, 2])
    starts, _ = R.chunks_from_ray_indices(ri, 4)  # rays 1 and 3 are empty (3 starts past the end)
    assert R.packed_exclusive_sum(vals, ri, starts).tolist() == [0.0, 1.0, 3.0, 0.0, 10.0]


# --------------------------------------------------------------------------- rays


def test_centre_ray_of_identity_pose_points_along_plus_z():
    o, d = R.camera_rays((50.0, 50.0, 2.0, 2.0), torch.eye(4), 4, 4)  # 4x4 image: centre between pixels 1, 2
    centre = R.pixel_rays((50.0, 50.0, 2.0, 2.0), torch.eye(4), torch.tensor([[2.0, 2.0]]))[1]
    torch.testing.assert_close(centre, torch.tensor([[0.0, 0.0, 1.0]]))
    assert o.shape == d.shape == (4, 4, 3) and torch.equal(o, torch.zeros(4, 4, 3))
    # OpenCV: columns grow to +x (right), rows grow to +y (down)
    assert d[1, 3, 0] > 0 and d[3, 1, 1] > 0 and (d[..., 2] > 0).all()
    torch.testing.assert_close(d.norm(dim=-1), torch.ones(4, 4))


def test_pose_rotates_and_translates_rays():
    # camera at (0, 0, -3) looking along world +x: camera z -> world x, camera x -> world -z, y -> y
    c2w = torch.tensor([[0.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 0.0], [-1.0, 0.0, 0.0, -3.0], [0, 0, 0, 1.0]])
    o, d = R.pixel_rays(
        torch.tensor([[10.0, 0, 5], [0, 10.0, 5], [0, 0, 1]]), c2w, torch.tensor([[5.0, 5.0], [15.0, 5.0]])
    )
    torch.testing.assert_close(o, torch.tensor([[0.0, 0.0, -3.0]] * 2))
    torch.testing.assert_close(d[0], torch.tensor([1.0, 0.0, 0.0]))
    torch.testing.assert_close(d[1], torch.tensor([1.0, 0.0, -1.0]) / math.sqrt(2))
    per_pixel = R.pixel_rays((10.0, 10.0, 5.0, 5.0), torch.stack([torch.eye(4), c2w]), torch.tensor([[5.0, 5.0]] * 2))[
        1
    ]
    torch.testing.assert_close(per_pixel, torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]))


def test_ray_box_near_far_by_hand():
    box = [-1.0, -1.0, -1.0, 1.0, 1.0, 1.0]
    origins = torch.tensor([[0.0, 0.0, -3.0], [-2.0, 0.5, 0.0], [0.0, 3.0, -3.0], [0.0, 0.0, 0.0], [-3.0, -3.0, 0.0]])
    dirs = torch.tensor(
        [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1 / math.sqrt(2), 1 / math.sqrt(2), 0.0]]
    )
    near, far, hit = R.ray_aabb(origins, dirs, box)
    s2 = math.sqrt(2)
    torch.testing.assert_close(near[[0, 1, 3, 4]], torch.tensor([2.0, 1.0, 0.0, 2 * s2]))
    torch.testing.assert_close(far[[0, 1, 3, 4]], torch.tensor([4.0, 3.0, 1.0, 4 * s2]))
    assert hit.tolist() == [True, True, False, True, True] and near[2] == far[2]


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="intrinsics"):
        R.camera_rays(torch.ones(5), torch.eye(4), 2, 2)
    with pytest.raises(ValueError, match="camera-to-world"):
        R.camera_rays((1, 1, 1, 1), torch.eye(3), 2, 2)
    with pytest.raises(ValueError, match="aabb"):
        R.ray_aabb(torch.zeros(1, 3), torch.ones(1, 3), [1, 1, 1, 0, 0, 0])
    with pytest.raises(ValueError, match="far < near"):
        R.sample_stratified(torch.ones(2), torch.zeros(2), 4)
    with pytest.raises(ValueError, match="backend"):
        R.composite_packed(
            torch.zeros(1, 3),
            torch.zeros(1),
            torch.zeros(1),
            torch.ones(1),
            torch.zeros(1, dtype=torch.long),
            1,
            backend="tcnn",
        )
    with pytest.raises(ValueError, match="CUDA tensors"):
        R.composite_packed(
            torch.zeros(1, 3),
            torch.zeros(1),
            torch.zeros(1),
            torch.ones(1),
            torch.zeros(1, dtype=torch.long),
            1,
            backend="cuda",
        )
    with pytest.raises(ValueError, match="background"):
        R.composite(
            torch.zeros(2, 3, 3), torch.zeros(2, 3), unit_samples(2, 3, torch.float32), background=torch.ones(4)
        )


# --------------------------------------------------------------------------- sampling


def test_stratified_strata_tile_the_interval_and_jitter_stays_inside():
    near, far = torch.tensor([1.0, 2.0]), torch.tensor([3.0, 6.0])
    s = R.sample_stratified(near, far, 4, jitter=False)
    torch.testing.assert_close(s.t_mids[0], torch.tensor([1.25, 1.75, 2.25, 2.75]))
    torch.testing.assert_close(s.deltas[1], torch.ones(4))
    j = R.sample_stratified(near, far, 4, jitter=True, generator=torch.Generator().manual_seed(1))
    assert ((j.t_mids >= j.t_starts) & (j.t_mids <= j.t_ends)).all()
    assert not torch.allclose(j.t_mids, s.t_mids)
    j2 = R.sample_stratified(near, far, 4, jitter=True, generator=torch.Generator().manual_seed(1))
    assert torch.equal(j.t_mids, j2.t_mids)


def test_inverse_cdf_by_hand():
    # pdf 1/4 on [0, 1) and 3/4 on [1, 2): quantiles (k + 0.5) / 8 -> first two in bin 0 at u / 0.25
    bins = torch.tensor([[0.0, 1.0, 2.0]], dtype=torch.float64)
    t = R.sample_pdf(bins, torch.tensor([[1.0, 3.0]], dtype=torch.float64), 8, deterministic=True, padding=0.0)
    expected = [0.25, 0.75] + [1.0 + ((k + 0.5) / 8 - 0.25) / 0.75 for k in range(2, 8)]
    torch.testing.assert_close(t[0], torch.tensor(expected, dtype=torch.float64))


def test_importance_samples_follow_a_known_pdf():
    # triangular pdf over 10 bins on [0, 10]: mass in bin k proportional to k + 1
    n = 20000
    bins = torch.linspace(0, 10, 11, dtype=torch.float64)[None]
    w = torch.arange(1, 11, dtype=torch.float64)[None]
    t = R.sample_pdf(bins, w, n, generator=torch.Generator().manual_seed(0))
    hist = torch.histc(t, bins=10, min=0, max=10) / n
    torch.testing.assert_close(hist, (w / w.sum())[0], atol=0.01, rtol=0)  # ~5 sigma for 20k samples


def test_hierarchical_sampling_concentrates_where_the_weights_are():
    near, far = torch.zeros(3), torch.full((3,), 4.0)
    coarse = R.sample_stratified(near, far, 16, jitter=False)
    sigmas = torch.where(
        (coarse.t_mids - 2.0).abs() < 0.25, torch.full_like(coarse.t_mids, 20.0), torch.zeros_like(coarse.t_mids)
    )  # a thin slab at t = 2
    weights = R.render_weights(sigmas, coarse.deltas)[0]
    fine = R.sample_importance(coarse, weights, 32, near, far, include_coarse=True, deterministic=True)
    assert fine.t_mids.shape == (3, 48)
    in_slab = ((fine.t_mids - 2.0).abs() < 0.25).float().sum(-1)
    assert (in_slab >= 32).all()  # coarse has 2 of 16 there; nearly all fine samples land there too
    torch.testing.assert_close(fine.deltas.sum(-1), far - near)  # intervals still tile [near, far]
    assert (fine.t_starts[:, 1:] >= fine.t_starts[:, :-1]).all()


def test_render_rays_through_a_homogeneous_medium_is_exact():
    # constant sigma on [near, far]: opacity = 1 - exp(-sigma * (far - near)) whatever the sampling
    def field(pts, dirs):
        return torch.full_like(pts[:, 0], 2.0), torch.full_like(pts, 0.5)

    o = torch.zeros(3, 3, dtype=torch.float64)
    d = torch.tensor([[0.0, 0.0, 1.0]] * 3, dtype=torch.float64)
    near, far = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64), torch.tensor([1.0, 1.0, 1.0], dtype=torch.float64)
    for n_imp in (0, 16):
        out = R.render_rays(field, o, d, near, far, n_samples=8, n_importance=n_imp, background=torch.ones(3))
        expected = 1 - torch.exp(-2.0 * (far - near))
        torch.testing.assert_close(out.opacity, expected)
        torch.testing.assert_close(out.rgb[:, 0], 0.5 * expected + (1 - expected))
        assert out.weights.shape == (3, 8 + n_imp)


def test_render_weights_packed_equals_dense_by_hand_and_refuses_mixed_layouts():
    # one ray of two samples with sigma * delta = 1 each, and one ray with a single sample of 0.5
    w, T, a = R.render_weights(torch.tensor([1.0, 2.0, 0.5]), torch.tensor([1.0, 0.5, 1.0]), torch.tensor([0, 0, 1]))
    e = math.exp(-1.0)
    torch.testing.assert_close(T, torch.tensor([1.0, e, 1.0]))
    torch.testing.assert_close(w, torch.tensor([1 - e, e * (1 - e), 1 - math.exp(-0.5)]))
    dense = R.render_weights(torch.tensor([[1.0, 2.0]]), torch.tensor([[1.0, 0.5]]))[0]
    torch.testing.assert_close(dense[0], w[:2])
    with pytest.raises(ValueError, match="shaped like sigmas"):
        R.render_weights(torch.ones(1, 2), torch.ones(2))
    with pytest.raises(ValueError, match="dense sigmas must be"):
        R.render_weights(torch.ones(3), torch.ones(3))
    with pytest.raises(ValueError, match="packed sigmas and ray_indices"):
        R.render_weights(torch.ones(1, 2), torch.ones(1, 2), torch.tensor([0, 0]))
