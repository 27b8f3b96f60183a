"""models subpackage of talkface_lite."""
