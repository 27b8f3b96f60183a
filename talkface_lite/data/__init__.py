"""Data for talkface_lite: where frames, audio and their ground truth come from, and how they are stored.

* :mod:`.dataset` -- the on-disk dataset format (frames, audio, features, poses, landmarks, AU45);
  :mod:`.masks` (face, torso and background masks) and :mod:`.leftovers` (partial writes of
  an interrupted run) serve it.
* :mod:`.sampling` -- ray and frame batches drawn from a dataset for training.
* :mod:`.synthetic` -- the built-in synthetic speaker, with perfect ground truth.
* :mod:`.video` -- preprocessing a real recording into a dataset.

``dataset`` and ``sampling`` never import ``synthetic`` or ``video`` at module level;
nothing here imports :mod:`talkface_lite.models`.
"""
