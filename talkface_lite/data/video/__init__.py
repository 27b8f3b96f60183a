"""Real-video preprocessing: from a recording to a dataset (``talkface-lite prepare``).

* :mod:`.codec` -- decoding and encoding video with its audio (PyAV);
* :mod:`.face_detect` -- face detection and 68-landmark tracking (dlib, MediaPipe);
* :mod:`.pose` -- head pose from landmarks (PnP) and its smoothing;
* :mod:`.openface` -- reading OpenFace's AU45 when a user has it;
* :mod:`.prepare` -- the whole pipeline, written with :mod:`talkface_lite.data.dataset`.

Explained in README.md, "Preparing your own video".
"""
