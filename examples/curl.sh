#!/bin/sh
# Call TF Serving's REST API through tfgate with curl: the request is the
# one TF Serving documents, plus a bearer token from `extauthz token`.
#
#   extauthz login --server https://serving.example.com   # once: signs in through the browser
#   examples/curl.sh https://serving.example.com
#
# With no argument it calls `extauthz dev` on http://127.0.0.1:8501.
set -eu
server=${1:-http://127.0.0.1:8501}

# On its own line, so that a failure (not signed in) stops the script
# with extauthz's hint instead of sending a request without a token.
token=$(extauthz token --server "$server")

curl -sS --fail-with-body \
  -H "Authorization: Bearer $token" \
  -d '{"instances": [1.0, 2.0, 5.0]}' \
  "$server/v1/models/half_plus_two:predict"
