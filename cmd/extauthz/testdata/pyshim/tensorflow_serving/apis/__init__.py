"""Test stand-in for tensorflow_serving.apis."""
