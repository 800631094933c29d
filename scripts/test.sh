#!/usr/bin/env bash
# Install every test dependency, then run the whole test suite.
#   Debian packages: curl, lftp and rclone (the interoperability tests drive
#   them), haproxy (the load-balancer tests start it on loopback), passwd
#   (useradd & co. for the Unix-account tests);
#   Python packages: trioftp with its [test] extra, in a virtualenv
#   ($TRIOFTP_VENV, default .venv). Arguments are passed on to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for tool in curl lftp rclone haproxy; do
    PATH="$PATH:/usr/sbin" command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
# The Unix-account tests (as root) make throw-away users: useradd, chpasswd, userdel.
command -v useradd >/dev/null 2>&1 || missing+=(passwd)
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" </dev/null
fi

venv="${TRIOFTP_VENV:-.venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -e '.[test]'
exec "$venv/bin/python" -m pytest "$@"
