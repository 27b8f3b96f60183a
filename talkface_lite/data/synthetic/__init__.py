"""The synthetic speaker: a talking, blinking 3D head whose ground truth is known exactly.

``from talkface_lite.data import synthetic`` gives the speaker's API
(:func:`generate_speaker`, :func:`cached_speaker`, :func:`make_script`, ...),
defined in :mod:`.speaker`. The parts it is built from:

* :mod:`.speech_synth` -- a formant synthesiser of English-like phones;
* :mod:`.visemes` -- phones to jaw opening, lip spread and rounding, with coarticulation;
* :mod:`.blinks` -- blink times and AU45 curves at natural rates;
* :mod:`.head_model`, :mod:`.face_texture` -- the deformable head mesh and its skin;
* :mod:`.rasterizer`, :mod:`.head_render` -- rendering it at any resolution;
* :mod:`.scene` -- a procedural static head of ellipsoids for the static NeRF (notebook 03);
* :mod:`.checks` -- measurements that the rendered speaker is what its script says.

Explained in notebooks/00_setup_and_tour.ipynb.
"""

from .speaker import *  # noqa: F401,F403  (the speaker's public API, listed in speaker.__all__)
from .speaker import __all__  # noqa: F401
