"""The ``talkface-lite`` subcommands, one module each (``synth``, ``prepare``, ``train``, ``render``,
``evaluate``, ``reproduce``, ``doctor``); :mod:`talkface_lite.cli` imports them lazily.

Explained in README.md, "Layout".
"""
