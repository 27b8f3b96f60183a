"""Real spherical harmonics of a unit direction, the view encoding of Instant-NGP and ER-NeRF's colour MLP.

``sh_encode(d, degree)`` returns the ``degree**2`` real SH basis functions
``Y_l^m(d)`` for ``l < degree`` (degree 1: the constant; 2: + 3 linear; 3: + 5
quadratic; 4: + 7 cubic), with the usual orthonormal constants (the same basis
tiny-cuda-nn's ``SphericalHarmonics`` encoding evaluates, up to its mapping of
inputs from [0, 1]; ours takes unit vectors directly).
"""

from __future__ import annotations

import math

import torch

_C0 = 0.5 * math.sqrt(1.0 / math.pi)
_C1 = math.sqrt(3.0 / (4.0 * math.pi))
_C2 = (0.5 * math.sqrt(15.0 / math.pi), 0.25 * math.sqrt(5.0 / math.pi), 0.25 * math.sqrt(15.0 / math.pi))
_C3 = (
    0.25 * math.sqrt(35.0 / (2.0 * math.pi)),
    0.5 * math.sqrt(105.0 / math.pi),
    0.25 * math.sqrt(21.0 / (2.0 * math.pi)),
    0.25 * math.sqrt(7.0 / math.pi),
    0.25 * math.sqrt(105.0 / math.pi),
)


def sh_encode(directions: torch.Tensor, degree: int = 4) -> torch.Tensor:
    """Real spherical harmonics basis.

    Args:
        directions: ``(..., 3)`` unit vectors.
        degree: number of bands, 1 to 4.

    Returns:
        ``(..., degree**2)`` basis values, band by band (``l = 0, 1, ...``; ``m = -l .. l``).

    Raises:
        ValueError: for a degree outside 1..4 or directions not of shape ``(..., 3)``.
    """
    if not 1 <= int(degree) <= 4:
        raise ValueError(f"sh_encode: degree must be 1..4 (1, 4, 9 or 16 outputs), got {degree}")
    if directions.shape[-1:] != (3,):
        raise ValueError(f"sh_encode: expected directions (..., 3), got {tuple(directions.shape)}")
    x, y, z = directions.unbind(-1)
    out = [torch.full_like(x, _C0)]
    if degree > 1:
        out += [-_C1 * y, _C1 * z, -_C1 * x]
    if degree > 2:
        xx, yy, zz = x * x, y * y, z * z
        out += [_C2[0] * x * y, -_C2[0] * y * z, _C2[1] * (3 * zz - 1), -_C2[0] * x * z, _C2[2] * (xx - yy)]
    if degree > 3:
        out += [
            -_C3[0] * y * (3 * xx - yy),
            _C3[1] * x * y * z,
            -_C3[2] * y * (5 * zz - 1),
            _C3[3] * z * (5 * zz - 3),
            -_C3[2] * x * (5 * zz - 1),
            _C3[4] * z * (xx - yy),
            -_C3[0] * x * (xx - 3 * yy),
        ]
    return torch.stack(out, -1)


__all__ = ["sh_encode"]
