#!/usr/bin/env bash
# The test suite at the lowest versions pyproject.toml allows, to prove its minimums.
#
#   1. trioftp[test] with every direct dependency at its declared minimum
#      (uv's --resolution lowest-direct): the whole suite.
#   2. The same without pyOpenSSL (an optional extra, whose minimum forces a
#      newer cryptography), cryptography back at its own minimum: the tests
#      of everything that does not use a pyOpenSSL context.
#
# uv comes from PyPI into a throw-away virtualenv. Virtualenvs go under
# $TRIOFTP_LOWEST_DIR (default: a new temporary directory). Arguments go to
# the first pytest run. Needs curl and lftp, as scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

work="${TRIOFTP_LOWEST_DIR:-$(mktemp -d)}"
python="$(command -v python3)"
"$python" -m venv "$work/uv"
"$work/uv/bin/python" -m pip install -q --disable-pip-version-check uv
uv="$work/uv/bin/uv"
export VIRTUAL_ENV="$work/lowest"
"$uv" venv -q -p "$python" "$VIRTUAL_ENV"

echo "== lowest direct dependencies: the whole suite"
"$uv" pip install -q --resolution lowest-direct -e '.[test]'
"$uv" pip list | grep -i -E '^(trio|attrs|cryptography|pyopenssl|pytest|pytest-trio|hypothesis|trustme) '
"$VIRTUAL_ENV/bin/python" -m pytest -q -p no:cacheprovider "$@"

echo "== without pyOpenSSL, cryptography at its minimum"
"$uv" pip uninstall -q pyopenssl
"$uv" pip install -q --resolution lowest-direct --upgrade-package cryptography -e .
"$uv" pip list | grep -i -E '^(cryptography|pyopenssl) '
"$VIRTUAL_ENV/bin/python" -m pytest -q -p no:cacheprovider \
    tests/unit tests/interop/test_cli.py tests/interop/test_cli_checks.py \
    tests/interop/test_tls_cli.py tests/session/test_tls_session.py
