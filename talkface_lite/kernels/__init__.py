"""CUDA kernels (``*.cu``), C++ CPU kernels (``*_cpu.cpp``) and the loader that JIT-builds them (see :mod:`.build`).

Importing this package never compiles anything and never fails: kernels are
built on first use, and a missing toolkit or compiler or a failed build falls
back to the PyTorch reference with one clear warning.
"""

from .build import (
    KernelFallbackWarning,
    KernelStatus,
    build_environment,
    cpu_build_environment,
    find_cuda_home,
    find_cxx,
    load_cpu_extension,
    load_extension,
    status,
)

__all__ = [
    "KernelFallbackWarning",
    "KernelStatus",
    "build_environment",
    "cpu_build_environment",
    "find_cuda_home",
    "find_cxx",
    "load_cpu_extension",
    "load_extension",
    "status",
]
