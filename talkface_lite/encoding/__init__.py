"""Input encodings of the fields: where a point's features come from.

* :mod:`.hashgrid` -- the multiresolution hash grid (Instant-NGP), ``HashGrid(HashGridConfig)``, with a
  PyTorch reference and CUDA / C++ CPU kernels (:mod:`talkface_lite.kernels`);
* :mod:`.triplane` -- three 2D hash grids on the xy, yz, xz planes (ER-NeRF, paper Eq. 4),
  ``TriPlane(TriPlaneConfig)``;
* :mod:`.spherical` -- real spherical harmonics of view directions;
* :mod:`.tcnn_adapter` -- the same grids through tiny-cuda-nn, when it is installed;
* :mod:`.benchmark` -- the encodings' speed measurements (notebook 02, ``benchmarks/bench_encoding.py``).

Explained in notebooks/02_hash_encoding.ipynb and notebooks/03_triplane_nerf.ipynb.
"""

from .hashgrid import HashGrid, HashGridConfig
from .triplane import TriPlane, TriPlaneConfig

__all__ = ["HashGrid", "HashGridConfig", "TriPlane", "TriPlaneConfig"]
