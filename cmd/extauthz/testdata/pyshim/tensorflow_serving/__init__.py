"""Test stand-in for tensorflow-serving-api."""
