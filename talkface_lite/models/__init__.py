"""The networks. Each file holds one model; the parts they share are in :mod:`.layers`.

* :mod:`.static_nerf` -- encoding -> density MLP -> colour MLP (notebook 03);
* :mod:`.field` -- the talking head's dynamic field: tri-plane, audio, eye and landmark codes (Eq. 5);
* :mod:`.audio_encoder`, :mod:`.audio_vae` -- audio windows to features;
* :mod:`.landmark_transformer` -- the Dynamic Landmark Transformer (audio to landmarks);
* :mod:`.baselines` -- mean, linear and temporal-conv landmark predictors to compare it with;
* :mod:`.blink` -- AU45 prediction and blink statistics;
* :mod:`.sync_expert` -- a landmark-audio sync expert trained on the speaker (the Sync column);
* :mod:`.syncnet` -- SyncNet (LSE-C / LSE-D) with its own audio and face preprocessing, when its
  weights exist.

Their training lives in :mod:`talkface_lite.training`.
"""
