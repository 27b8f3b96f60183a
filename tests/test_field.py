"""The dynamic landmark radiance field: SH basis, local landmark code, variants, conditions."""

import math

import pytest
import torch

from talkface_lite import landmarks as lmk
from talkface_lite.encoding.spherical import sh_encode
from talkface_lite.models.field import (
    EYE_LANDMARKS,
    PAPER_NAMES,
    VARIANTS,
    DynamicLandmarkField,
    FieldConfig,
    LandmarkCode,
    neighbour_windows,
)


def small(variant="dlt_eye", **kw):
    cfg = FieldConfig(
        variant=variant,
        audio_dim=8,
        audio_window=4,
        n_frames=6,
        tri_levels=4,
        tri_log2=10,
        tri_base=8,
        tri_finest=64,
        hash3d_levels=4,
        hash3d_log2=10,
        hash3d_finest=64,
        lm_levels=2,
        sh_degree=2,
        **kw,
    )
    torch.manual_seed(0)
    f = DynamicLandmarkField(cfg)
    lm = torch.as_tensor(lmk.template_3d(), dtype=torch.float32) + 0.01 * torch.randn(6, 68, 3)  # a real face layout
    f.fit_normalisers(torch.randn(6, 4, 8), lm, frames=torch.tensor([0, 1, 2, 3]))
    return f, lm


@pytest.mark.parametrize("degree", [1, 2, 3, 4])
def test_sh_basis_is_orthonormal_on_the_sphere(degree):
    # integral over the sphere of Y_i Y_j = delta_ij, i.e. 4*pi * mean over uniform directions
    g = torch.Generator().manual_seed(0)
    d = torch.nn.functional.normalize(torch.randn(400_000, 3, generator=g, dtype=torch.float64), dim=-1)
    y = sh_encode(d, degree)
    assert y.shape == (400_000, degree**2)
    gram = 4 * math.pi * (y.T @ y) / d.shape[0]
    assert torch.allclose(gram, torch.eye(degree**2, dtype=torch.float64), atol=0.02)


def test_sh_constant_and_linear_terms_by_hand():
    y = sh_encode(torch.tensor([[0.0, 0.0, 1.0]]), 2)[0]
    c0, c1 = 0.5 / math.sqrt(math.pi), math.sqrt(3 / (4 * math.pi))
    assert torch.allclose(y, torch.tensor([c0, 0.0, c1, 0.0]), atol=1e-6)
    with pytest.raises(ValueError, match="degree must be 1..4"):
        sh_encode(torch.zeros(1, 3), 5)


def test_landmark_weights_by_hand():
    code = LandmarkCode((-1, -1, -1, 1, 1, 1), radius=0.5)
    lm = torch.zeros(10, 68, 3)
    lm[:, :, 0] = torch.linspace(-0.9, 0.9, 68)
    code.fit(lm)
    w = code.weights(code.canonical[:1])  # at landmark 0 itself
    assert float(w[0, 0].detach()) == pytest.approx(1.0)
    d = float(code.canonical[1, 0] - code.canonical[0, 0])
    assert float(w[0, 1].detach()) == pytest.approx(math.exp(-0.5 * d * d / 0.25), rel=1e-5)


def test_landmark_code_is_local():
    """Moving the mouth landmarks changes density near the lips, not near the brows."""
    f, lm = small()
    cond_lm = lm[0].clone().requires_grad_(True)
    cond = f.encode(torch.randn(8, 4, 8), cond_lm, 0.0, 0)
    canon = f.landmark.canonical
    near_lips = canon[list(lmk.MOUTH)] + 0.02
    near_brows = canon[list(lmk.BROWS)] + 0.02
    g_lips = torch.autograd.grad(f.density(near_lips, cond).sum(), cond_lm, retain_graph=True)[0]
    g_brows = torch.autograd.grad(f.density(near_brows, cond).sum(), cond_lm)[0]
    mouth = list(lmk.MOUTH)
    assert float(g_lips[mouth].abs().sum()) > 1e-4
    assert float(g_brows[mouth].abs().sum()) < 1e-3 * float(g_lips[mouth].abs().sum())


def test_eye_landmarks_reach_the_field_only_through_au45_when_the_eye_feature_is_on():
    f_eye, lm = small("dlt_eye")
    moved = lm[0].clone()
    moved[list(EYE_LANDMARKS), 1] -= 0.05  # lids close
    a = f_eye.landmark.landmark_codes(lm[0])
    b = f_eye.landmark.landmark_codes(moved)
    assert torch.equal(a, b)
    f_no, lm = small("dlt_no_eye")
    assert not torch.equal(f_no.landmark.landmark_codes(lm[0]), f_no.landmark.landmark_codes(moved))


def test_variants_and_paper_names():
    assert set(PAPER_NAMES) == set(VARIANTS)
    assert PAPER_NAMES["dlt_eye"] == "w Tri-Hash w E w D"
    pts, dirs = torch.rand(50, 3) - 0.5, torch.nn.functional.normalize(torch.randn(50, 3), dim=-1)
    for v in VARIANTS:
        f, lm = small(v)
        cond = f.encode(torch.randn(8, 4, 8), lm[0], 2.5, 1)
        s, c = f(pts, dirs, cond)
        assert s.shape == (50,) and c.shape == (50, 3) and bool((s >= 0).all()) and bool(((c >= 0) & (c <= 1)).all())
    f, _ = small("no_dlt_no_eye")
    assert f.landmark is None and f.eye_att is None
    f.encode(torch.randn(8, 4, 8))  # needs neither landmarks nor AU45
    f, lm = small("dlt_eye")
    with pytest.raises(ValueError, match="pass au45"):
        f.encode(torch.randn(8, 4, 8), lm[0])
    with pytest.raises(ValueError, match="pass landmarks"):
        f.encode(torch.randn(8, 4, 8), None, 1.0)
    with pytest.raises(ValueError, match=r"audio_windows must be \(8, 4, 8\)"):
        f.encode(torch.randn(7, 4, 8), lm[0], 1.0)
    with pytest.raises(ValueError, match="unknown field variant"):
        FieldConfig(variant="nerf")


def test_au45_changes_density_only_through_the_eye_feature():
    f, lm = small("dlt_eye")
    torch.nn.init.constant_(f.eye_att[-1].bias, 1.0)  # an open eye gate everywhere
    pts = torch.rand(64, 3) - 0.5
    w = torch.randn(8, 4, 8)
    s0 = f.density(pts, f.encode(w, lm[0], 0.0, 0))
    s5 = f.density(pts, f.encode(w, lm[0], 5.0, 0))
    s9 = f.density(pts, f.encode(w, lm[0], 9.0, 0))  # clamped to the 0-5 scale
    assert not torch.allclose(s0, s5)
    assert torch.equal(s5, s9)


def test_neighbour_windows_clamp_at_the_clip_edges():
    feats = torch.arange(10.0)[:, None, None].expand(10, 2, 3)
    assert neighbour_windows(feats, 0)[:, 0, 0].tolist() == [0, 0, 0, 0, 0, 1, 2, 3]
    assert neighbour_windows(feats, 5)[:, 0, 0].tolist() == [1, 2, 3, 4, 5, 6, 7, 8]
    assert neighbour_windows(feats, 9)[:, 0, 0].tolist() == [5, 6, 7, 8, 9, 9, 9, 9]


def test_frames_without_a_latent_use_the_training_mean():
    f, _ = small()
    with torch.no_grad():
        f.latents.weight.copy_(torch.arange(6.0)[:, None].expand(6, f.config.latent_dim))
    assert torch.equal(f.latent(2), f.latents.weight[2])
    mean = torch.full((f.config.latent_dim,), 1.5)  # frames 0-3 own codes 0, 1, 2, 3
    assert torch.equal(f.latent(5), mean) and torch.equal(f.latent(None), mean) and torch.equal(f.latent(99), mean)


def test_parameter_groups_split_tables_from_mlps():
    f, _ = small()
    g = f.parameter_groups()
    assert {id(p) for p in g["grids"]}.isdisjoint({id(p) for p in g["mlps"]})
    assert len(g["grids"]) + len(g["mlps"]) == len(list(f.parameters()))
    assert all(p.dim() == 2 and p.shape[1] in (1, 2) for p in g["grids"])


def test_default_field_uses_er_nerf_planes_and_a_3d_grid_of_the_same_budget():
    from talkface_lite.encoding import TriPlaneConfig

    config = FieldConfig()
    assert config.triplane() == TriPlaneConfig.er_nerf()
    tri, hash3d = config.triplane().parameter_count, config.hash3d().parameter_count
    assert tri == 488_616  # 3 x 162,872 rows x 1 feature (see TriPlaneConfig.er_nerf)
    assert abs(hash3d - tri) / tri < 0.01  # the hash3d variant (Table III) gets the same budget
