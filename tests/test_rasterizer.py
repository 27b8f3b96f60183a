"""Tests for talkface_lite.data.synthetic.rasterizer: coverage, culling, z-buffer, perspective-correct interpolation."""

import torch

from talkface_lite.data.synthetic.rasterizer import interpolate, project, rasterize

K = torch.tensor([[10.0, 0.0, 4.0], [0.0, 10.0, 4.0], [0.0, 0.0, 1.0]])


def test_projection_uses_pixel_centres_at_half():
    # a point on the optical axis lands on the principal point; x = z/10 one focal unit right
    xy = project(torch.tensor([[0.0, 0.0, 5.0], [0.5, -0.5, 5.0]]), K)
    assert torch.allclose(xy, torch.tensor([[4.0, 4.0], [5.0, 3.0]]))


def test_triangle_covers_the_hand_counted_pixel_centres():
    # screen vertices (4,4), (6,4), (4,6): centres (4.5,4.5), (5.5,4.5), (4.5,5.5) are inside,
    # (5.5,5.5) lies beyond the hypotenuse x + y = 10
    v = torch.tensor([[0.0, 0.0, 5.0], [1.0, 0.0, 5.0], [0.0, 1.0, 5.0]])
    frags = rasterize(v, torch.tensor([[0, 2, 1]]), K, 8, 8)
    covered = {(int(r), int(c)) for r, c in torch.nonzero(frags.mask)}
    assert covered == {(4, 4), (4, 5), (5, 4)}
    assert torch.allclose(frags.depth[frags.mask], torch.full((3,), 5.0))


def test_back_faces_are_culled_unless_two_sided():
    v = torch.tensor([[0.0, 0.0, 5.0], [1.0, 0.0, 5.0], [0.0, 1.0, 5.0]])
    back = torch.tensor([[0, 1, 2]])  # outward normal +z: facing away from the camera
    assert rasterize(v, back, K, 8, 8).mask.sum() == 0
    assert rasterize(v, back, K, 8, 8, cullable=torch.tensor([False])).mask.sum() == 3


def test_nearest_surface_wins_in_any_order():
    far = [[-1.0, -1.0, 8.0], [-1.0, 1.0, 8.0], [1.0, -1.0, 8.0]]
    near = [[-1.0, -1.0, 4.0], [-1.0, 1.0, 4.0], [1.0, -1.0, 4.0]]
    faces = torch.tensor([[0, 1, 2], [3, 4, 5]])
    for order in (far + near, near + far):
        frags = rasterize(torch.tensor(order), faces, K, 8, 8, cullable=torch.tensor([False, False]))
        assert torch.allclose(frags.depth[4, 3], torch.tensor(4.0))
        nearest_face = 1 if order[0][2] == 8.0 else 0
        assert int(frags.face[4, 3]) == nearest_face


def test_perspective_correct_interpolation_recovers_3d_positions():
    # a slanted plane: interpolating vertex positions must give points on the pixel's ray
    v = torch.tensor([[-2.0, -2.0, 4.0], [-2.0, 2.0, 4.0], [2.0, -2.0, 12.0], [2.0, 2.0, 12.0]])
    faces = torch.tensor([[0, 1, 2], [1, 3, 2]])
    frags = rasterize(v, faces, K, 8, 8, cullable=torch.tensor([False, False]))
    pts = interpolate(frags, faces, v)  # (P, 3)
    rows, cols = torch.nonzero(frags.mask, as_tuple=True)
    reproj = project(pts, K)
    assert torch.allclose(reproj[:, 0], cols.float() + 0.5, atol=1e-4)
    assert torch.allclose(reproj[:, 1], rows.float() + 0.5, atol=1e-4)
    assert torch.allclose(pts[:, 2], frags.depth[frags.mask], atol=1e-4)


def test_rasterisation_is_deterministic():
    g = torch.Generator().manual_seed(0)
    v = torch.rand(300, 3, generator=g) * torch.tensor([2.0, 2.0, 1.0]) + torch.tensor([-1.0, -1.0, 4.0])
    f = torch.randint(0, 300, (400, 3), generator=g)
    a = rasterize(v, f, K * 4, 32, 32, cullable=torch.zeros(400, dtype=torch.bool))
    b = rasterize(v, f, K * 4, 32, 32, cullable=torch.zeros(400, dtype=torch.bool))
    assert torch.equal(a.face, b.face) and torch.equal(a.bary, b.bary)
