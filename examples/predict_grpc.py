#!/usr/bin/env python3
"""Call TF Serving's gRPC API through tfgate with the TF Serving Python client.

The stubs and messages are tensorflow-serving-api's, unchanged; only the
channel differs: it carries call credentials with a bearer token from
`extauthz token`.

    pip install tensorflow-serving-api
    extauthz login --server https://serving.example.com   # once
    python3 examples/predict_grpc.py serving.example.com:8500 https://serving.example.com

With no arguments it calls `extauthz dev` (gRPC on 127.0.0.1:8500, plaintext
on loopback).
"""

import argparse
import subprocess

import grpc
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc


def extauthz_token(server=None, extauthz="extauthz"):
    """Returns a valid token from `extauthz token` (renewed when needed)."""
    command = [extauthz, "token"] + (["--server", server] if server else [])
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip() or "extauthz token failed")
    return done.stdout.strip()


class TfgateToken(grpc.AuthMetadataPlugin):
    """Call credentials for long-running programs: a fresh `extauthz token`
    for every call, instead of one token fixed when the channel is made."""

    def __init__(self, server=None):
        self._server = server

    def __call__(self, context, callback):
        try:
            callback((("authorization", "Bearer " + extauthz_token(self._server)),), None)
        except Exception as err:  # reported to the caller as UNAUTHENTICATED
            callback((), err)


def tfgate_channel(target, server, plaintext=False, renew=False):
    """A channel to TF Serving behind tfgate.

    gRPC sends call credentials only over a channel it considers secure:
    TLS (ssl_channel_credentials), or, for `extauthz dev` on loopback,
    local_channel_credentials, which refuses any non-loopback peer.
    """
    if renew:
        call_creds = grpc.metadata_call_credentials(TfgateToken(server))
    else:
        call_creds = grpc.access_token_call_credentials(extauthz_token(server))
    if plaintext:
        channel_creds = grpc.local_channel_credentials(grpc.LocalConnectionType.LOCAL_TCP)
    else:
        channel_creds = grpc.ssl_channel_credentials()
    return grpc.secure_channel(target, grpc.composite_channel_credentials(channel_creds, call_creds))


def main():
    parser = argparse.ArgumentParser(description="Predict on half_plus_two through tfgate.")
    parser.add_argument("target", nargs="?", default="127.0.0.1:8500", help="TF Serving's gRPC address (Envoy)")
    parser.add_argument("server", nargs="?", default="http://127.0.0.1:8501", help="tfgate's URL, as given to extauthz login")
    parser.add_argument("--renew", action="store_true", help="a fresh token for every call (long-running programs)")
    args = parser.parse_args()
    plaintext = args.server.startswith("http://")  # `extauthz dev`: loopback only
    with tfgate_channel(args.target, args.server, plaintext=plaintext, renew=args.renew) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "half_plus_two"
        request.inputs["x"].CopyFrom(tf.make_tensor_proto([1.0, 2.0, 5.0], dtype=tf.float32))
        result = stub.Predict(request, timeout=30)
        print(list(result.outputs["y"].float_val))


if __name__ == "__main__":
    main()
