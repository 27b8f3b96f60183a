"""commands subpackage of talkface_lite."""
