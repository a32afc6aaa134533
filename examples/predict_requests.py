#!/usr/bin/env python3
"""Call TF Serving's REST API through tfgate with python-requests.

The request is the one TF Serving documents; TfgateAuth adds a bearer token
from `extauthz token` to each request, so an existing requests.Session
only needs `session.auth = TfgateAuth(server)`.

    extauthz login --server https://serving.example.com   # once
    python3 examples/predict_requests.py https://serving.example.com

With no argument it calls `extauthz dev` on http://127.0.0.1:8501.
"""

import subprocess
import sys
import time

import requests


class TfgateAuth(requests.auth.AuthBase):
    """Sets "Authorization: Bearer <token>" from `extauthz token`.

    extauthz prints a token valid for at least another minute (renewing it
    when needed), so one is reused for 30 seconds before asking again.
    """

    def __init__(self, server=None, extauthz="extauthz"):
        self._command = [extauthz, "token"] + (["--server", server] if server else [])
        self._token, self._fetched = None, 0.0

    def token(self):
        if self._token is None or time.monotonic() - self._fetched > 30:
            done = subprocess.run(self._command, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(done.stderr.strip() or "extauthz token failed")
            self._token, self._fetched = done.stdout.strip(), time.monotonic()
        return self._token

    def __call__(self, request):
        request.headers["Authorization"] = "Bearer " + self.token()
        return request


def main():
    server = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8501"
    session = requests.Session()
    session.auth = TfgateAuth(server)
    resp = session.post(
        server + "/v1/models/half_plus_two:predict",
        json={"instances": [1.0, 2.0, 5.0]},
        timeout=30,
    )
    resp.raise_for_status()
    print(resp.json()["predictions"])


if __name__ == "__main__":
    main()
