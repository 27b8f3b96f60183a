"""data subpackage of talkface_lite."""
