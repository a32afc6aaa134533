"""Test stand-in for the two names of tensorflow that predict_grpc.py uses."""

from _tfproto import TensorProto, TensorShapeProto

float32 = 1  # tensorflow.DataType DT_FLOAT


def make_tensor_proto(values, dtype=None):
    """A rank-1 DT_FLOAT TensorProto of values, as tf.make_tensor_proto makes."""
    if dtype not in (None, float32):
        raise ValueError("this stand-in makes float32 tensors only")
    shape = TensorShapeProto()
    shape.dim.add(size=len(values))
    return TensorProto(dtype=float32, tensor_shape=shape, float_val=[float(v) for v in values])
