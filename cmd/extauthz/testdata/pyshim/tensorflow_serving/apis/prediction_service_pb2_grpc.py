"""Test stand-in for tensorflow_serving.apis.prediction_service_pb2_grpc: the
Predict method as grpcio's generated stub defines it."""

from _tfproto import PredictRequest, PredictResponse


class PredictionServiceStub:
    def __init__(self, channel):
        self.Predict = channel.unary_unary(
            "/tensorflow.serving.PredictionService/Predict",
            request_serializer=PredictRequest.SerializeToString,
            response_deserializer=PredictResponse.FromString,
        )
