"""Test stand-in for tensorflow_serving.apis.predict_pb2."""

from _tfproto import PredictRequest, PredictResponse  # noqa: F401
