"""encoding subpackage of talkface_lite."""
