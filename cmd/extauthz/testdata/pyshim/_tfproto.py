"""TF Serving's PredictRequest and PredictResponse, declared at run time.

Same package, names, field numbers and types as tensorflow/core/framework/
{tensor,tensor_shape}.proto and tensorflow_serving/apis/{model,predict}.proto,
for the fields examples/predict_grpc.py uses. DataType is an int32 here: an
enum is the same varint on the wire.
"""

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor_pb2 import FieldDescriptorProto as F

_OPT, _REP = F.LABEL_OPTIONAL, F.LABEL_REPEATED


def _field(msg, name, number, ftype, label=_OPT, type_name=None):
    f = msg.field.add(name=name, number=number, type=ftype, label=label)
    if type_name:
        f.type_name = type_name


def _map(msg, name, number, value_type):
    entry = msg.nested_type.add(name=name.title().replace("_", "") + "Entry")
    entry.options.map_entry = True
    _field(entry, "key", 1, F.TYPE_STRING)
    _field(entry, "value", 2, F.TYPE_MESSAGE, type_name=value_type)
    _field(msg, name, number, F.TYPE_MESSAGE, _REP, "." + _PKG_MSG[msg.name] + "." + entry.name)


_PKG_MSG = {}


def _file():
    fd = descriptor_pb2.FileDescriptorProto(name="tfgate_test/tfserving.proto", package="tensorflow", syntax="proto3")
    fd.dependency.append("google/protobuf/wrappers.proto")
    dim = fd.message_type.add(name="TensorShapeProto")
    d = dim.nested_type.add(name="Dim")
    _field(d, "size", 1, F.TYPE_INT64)
    _field(d, "name", 2, F.TYPE_STRING)
    _field(dim, "dim", 2, F.TYPE_MESSAGE, _REP, ".tensorflow.TensorShapeProto.Dim")
    _field(dim, "unknown_rank", 3, F.TYPE_BOOL)
    t = fd.message_type.add(name="TensorProto")
    _field(t, "dtype", 1, F.TYPE_INT32)
    _field(t, "tensor_shape", 2, F.TYPE_MESSAGE, type_name=".tensorflow.TensorShapeProto")
    _field(t, "tensor_content", 4, F.TYPE_BYTES)
    _field(t, "float_val", 5, F.TYPE_FLOAT, _REP)
    return fd


def _serving_file():
    fd = descriptor_pb2.FileDescriptorProto(name="tfgate_test/serving.proto", package="tensorflow.serving", syntax="proto3")
    fd.dependency.extend(["google/protobuf/wrappers.proto", "tfgate_test/tfserving.proto"])
    spec = fd.message_type.add(name="ModelSpec")
    _field(spec, "name", 1, F.TYPE_STRING)
    _field(spec, "version", 2, F.TYPE_MESSAGE, type_name=".google.protobuf.Int64Value")
    _field(spec, "signature_name", 3, F.TYPE_STRING)
    _field(spec, "version_label", 4, F.TYPE_STRING)
    for name, spec_no, map_name, map_no in (("PredictRequest", 1, "inputs", 2), ("PredictResponse", 2, "outputs", 1)):
        m = fd.message_type.add(name=name)
        _PKG_MSG[name] = "tensorflow.serving." + name
        _field(m, "model_spec", spec_no, F.TYPE_MESSAGE, type_name=".tensorflow.serving.ModelSpec")
        _map(m, map_name, map_no, ".tensorflow.TensorProto")
    return fd


def _classes():
    from google.protobuf import wrappers_pb2  # registers wrappers.proto in the default pool

    pool = descriptor_pool.Default()
    pool.Add(_file())
    pool.Add(_serving_file())
    get = getattr(message_factory, "GetMessageClass", None)
    if get is None:  # protobuf < 4.22
        get = message_factory.MessageFactory(pool).GetPrototype
    names = ("tensorflow.TensorShapeProto", "tensorflow.TensorProto",
             "tensorflow.serving.PredictRequest", "tensorflow.serving.PredictResponse")
    return [get(pool.FindMessageTypeByName(n)) for n in names]


TensorShapeProto, TensorProto, PredictRequest, PredictResponse = _classes()
