"""talkface_lite: NeRF talking heads, taught step by step in notebooks/.

The notebooks import this package, which holds the real implementation:
volume rendering, hash encodings (PyTorch reference + CUDA kernels), the
tri-plane NeRF, audio features, the audio-to-landmark transformer, blink
prediction and two-stage training. Modules are imported lazily by the
notebooks that need them; importing the package itself is cheap.
"""

__version__ = "0.1.0"
