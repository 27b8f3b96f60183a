"""tiny-cuda-nn as a hash-grid backend: config mapping, dtypes and parameter layout.

Used by ``HashGrid(config, backend="tcnn")`` and by the encoding benchmark
(:mod:`talkface_lite.encoding.benchmark`, run by ``benchmarks/bench_encoding.py``)
to compare our kernel with tiny-cuda-nn on the same grid.

Parity of semantics (see :mod:`talkface_lite.encoding.hashgrid`):

* config: the fields of our ``HashGridConfig`` map one to one onto
  tiny-cuda-nn's ``HashGrid`` encoding (:func:`tcnn_config`); a finest
  resolution (``HashGridConfig.from_finest``) is already a ``per_level_scale``
  there, the one our PyTorch backend uses;
* parameters: tiny-cuda-nn stores the levels one after the other, each level
  ``size_l`` rows of ``F`` features, ``size_l = min(next_multiple_of_8(res^D), 2^T)``;
  that is our ``(n_params, F)`` table flattened, so :meth:`TcnnHashGrid.load_table`
  and :meth:`TcnnHashGrid.embeddings` move weights between backends without
  any permutation (checked against ``n_params`` at construction);
* dtypes: tiny-cuda-nn takes float32 inputs and returns its parameter
  precision, float16 in its default ("preferred") build; we ask for the
  table dtype explicitly (float32 or float16) and return that dtype;
* batch: tiny-cuda-nn pads the batch to a multiple of 256 internally; the
  output is sliced back to ``n_points``;
* position: tiny-cuda-nn computes ``pos`` with a fused multiply-add; we
  round after the multiply and after the add, so points within ~1e-7 of a
  cell border can land in the neighbouring cell (a rounding-level difference).

Decision: ``backend="tcnn"`` without an importable ``tinycudann`` raises a
``RuntimeError`` that says how to install it, rather than silently falling
back: a benchmark row or a result labelled "tcnn" must really come from
tiny-cuda-nn. Use ``backend="auto"`` for "whatever is fastest here".

Explained in notebooks/02_hash_encoding.ipynb (backends).
"""

from __future__ import annotations

import torch
from torch import nn

INSTALL_HINT = (
    "install it on a CUDA machine with `pip install --no-build-isolation "
    "git+https://github.com/NVlabs/tiny-cuda-nn/#subdirectory=bindings/torch` "
    "(needs nvcc matching torch's CUDA), or use backend='auto' / 'cuda' / 'torch'"
)


def import_tcnn():
    """``(module, None)`` when tinycudann imports, else ``(None, reason)``.

    tinycudann raises ``EnvironmentError`` (not ``ImportError``) on machines
    without a GPU, so any exception counts as "unavailable".
    """
    try:
        import tinycudann  # noqa: F401
    except Exception as exc:  # noqa: BLE001
        return (
            None,
            f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else 'import failed'}",
        )
    return tinycudann, None


def available() -> bool:
    """Whether the tcnn backend can be used here."""
    return import_tcnn()[0] is not None


def tcnn_config(config) -> dict:
    """tiny-cuda-nn encoding config for a :class:`~talkface_lite.encoding.hashgrid.HashGridConfig`."""
    return {
        "otype": "HashGrid",
        "n_levels": int(config.n_levels),
        "n_features_per_level": int(config.n_features_per_level),
        "log2_hashmap_size": int(config.log2_hashmap_size),
        "base_resolution": int(config.base_resolution),
        "per_level_scale": float(config.per_level_scale),
        "interpolation": {"linear": "Linear", "smoothstep": "Smoothstep"}[config.interpolation],
    }


class TcnnHashGrid(nn.Module):
    """A tiny-cuda-nn ``Encoding`` with our config, dtype and table layout.

    Args:
        config: :class:`~talkface_lite.encoding.hashgrid.HashGridConfig`.
        dtype: float32 or float16 (tiny-cuda-nn supports no other).
        device: must be a CUDA device (tiny-cuda-nn is CUDA only).

    Raises:
        RuntimeError: ``tinycudann`` is not importable (the message says why and how to fix it).
        ValueError: an unsupported dtype, or a parameter count that does not match our layout.
    """

    def __init__(self, config, dtype: torch.dtype = torch.float32, device=None):
        super().__init__()
        tcnn, reason = import_tcnn()
        if tcnn is None:
            raise RuntimeError(
                f"HashGrid backend='tcnn' needs tinycudann, which does not import here ({reason}); {INSTALL_HINT}"
            )
        if dtype not in (torch.float32, torch.float16):
            raise ValueError(f"tiny-cuda-nn supports float32 and float16 tables, not {dtype}")
        if device is not None and torch.device(device).type != "cuda":
            raise ValueError(f"tiny-cuda-nn runs on CUDA only, got device={device!r}")
        self.config = config
        self.dtype = dtype
        self.encoding = tcnn.Encoding(config.n_input_dims, tcnn_config(config), dtype=dtype)
        expected = config.n_params * config.n_features_per_level
        if self.encoding.params.numel() != expected:
            raise ValueError(
                f"tiny-cuda-nn allocated {self.encoding.params.numel()} parameters, our layout expects "
                f"{expected}; this tinycudann version lays out HashGrid parameters differently"
            )
        if device is not None:
            self.encoding.to(device)

    def embeddings(self) -> torch.Tensor:
        """The parameters as our ``(n_params, F)`` table (a view, shares memory)."""
        return self.encoding.params.view(self.config.n_params, self.config.n_features_per_level)

    @torch.no_grad()
    def load_table(self, table: torch.Tensor) -> None:
        """Copy an ``(n_params, F)`` table from another backend into tiny-cuda-nn."""
        self.embeddings().copy_(table.to(self.encoding.params.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Encode points.

        Args:
            x: (n_points, D) CUDA points in [0, 1].

        Returns:
            (n_points, n_levels * F) features in the table dtype.
        """
        out = self.encoding(x.to(torch.float32).contiguous())
        return out[:, : self.config.n_output_dims].to(self.dtype)


__all__ = ["INSTALL_HINT", "TcnnHashGrid", "available", "import_tcnn", "tcnn_config"]
