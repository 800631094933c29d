#!/usr/bin/env bash
# The test suite on the other Python versions trioftp supports (3.12, 3.13),
# each in a fresh virtualenv, with the newest dependencies.
#
# The interpreters are looked for in pyenv's versions (this machine's image
# has 3.12 and 3.13 there), then on PATH (python3.12, python3.13); one that
# is missing is reported and makes the script fail, never skipped silently.
# Virtualenvs go under $TRIOFTP_PYTHONS_DIR (default: a new temporary
# directory). Arguments go to pytest. Needs curl and lftp, as scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

work="${TRIOFTP_PYTHONS_DIR:-$(mktemp -d)}"
pyenv_root="$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"
status=0
for version in 3.12 3.13; do
    # pyenv's own copy first: its shim on PATH may refuse to run another version.
    python="$(ls -d "$pyenv_root"/versions/"$version".*/bin/python"$version" 2>/dev/null | sort -V | tail -n 1 || true)"
    if [ -z "$python" ] && "python$version" -c pass 2>/dev/null; then
        python="$(command -v "python$version")"
    fi
    if [ -z "$python" ]; then
        echo "== Python $version: not installed here" >&2
        status=1
        continue
    fi
    echo "== $("$python" --version): the whole suite"
    "$python" -m venv "$work/py$version"
    "$work/py$version/bin/python" -m pip install -q --disable-pip-version-check -e '.[test]'
    "$work/py$version/bin/python" -m pytest -q -p no:cacheprovider "$@" || status=1
done
exit "$status"
