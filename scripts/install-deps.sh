#!/usr/bin/env bash
# The system packages tfgate's tests use, checked one by one, installed when
# they are missing. Used by both `make test` and .ci/run, so the list is
# kept in one place. Idempotent: with everything present it only checks.
#
#   scripts/install-deps.sh           install what is missing (root + apt-get),
#                                     otherwise name it and exit 1
#   scripts/install-deps.sh --check   only name what is missing (exit 1 if anything is)
#
# Add a package: one `want` line below (a check that succeeds when it is
# there, and the Debian package that provides it).
set -euo pipefail

check_only=false
[ "${1:-}" = "--check" ] && check_only=true

need=()
why=()
want() { # want PACKAGE "WHAT IT IS FOR" CHECK...
  local pkg=$1 what=$2
  shift 2
  if ! "$@" >/dev/null 2>&1; then
    need+=("$pkg")
    why+=("  $pkg: $what")
  fi
}
has() { command -v "$1"; }
py() { /usr/bin/python3 -c "import $1"; }

want make            "make test itself"                                       has make
want git             "gofmt's file list"                                      has git
want redis-server    "session store tests run a real redis-server"            has redis-server
want redis-tools     "redis-cli for the cluster tests"                        has redis-cli
want python3-pysaml2 "interop tests sign real SAML with Debian's pysaml2"     py saml2
want xmlsec1         "pysaml2 signs with xmlsec1"                             has xmlsec1
want chromium        "the browser tests drive headless Chromium"              test -x /usr/bin/chromium
want curl            "the client guide's curl examples"                       has curl
want python3-requests "the client guide's Python example"                     py requests
want python3-grpcio  "the client guide's Python gRPC example"                 py grpc
want python3-protobuf "the client guide's Python gRPC example"                py google.protobuf
want php-cli         "SimpleSAMLphp runs under the PHP CLI"                   has php
want simplesamlphp   "an independent SAML IdP for interop tests"              test -d /usr/share/simplesamlphp
phpext() { php -r "exit(extension_loaded('$1') ? 0 : 1);"; }
want php-xml         "SimpleSAMLphp builds its XML with PHP's DOM"            phpext dom
want php-mbstring    "SimpleSAMLphp needs mbstring"                           phpext mbstring
want dbus           "extauthz login's keyring test runs a private session bus" has dbus-daemon
want gnome-keyring  "extauthz login's keyring test stores tokens in it"      has gnome-keyring-daemon

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if ! $check_only && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "install-deps: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}"
  exit 0
fi
{
  echo "install-deps: the tests need these system packages, which are missing:"
  printf '%s\n' "${why[@]}"
  if command -v apt-get >/dev/null; then
    echo "Install them with:"
    echo "  sudo apt-get install -y ${need[*]}"
    echo "(or run this script as root: sudo scripts/install-deps.sh)"
  else
    echo "This is not a Debian-like system: install the equivalents with your package manager."
  fi
} >&2
exit 1
