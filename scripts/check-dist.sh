#!/usr/bin/env bash
# Check what would be published: the sdist and the wheel.
#
#   1. Build both (python -m build, from the virtualenv $TRIOFTP_VENV, default
#      .venv, which has `build` from the [test] extra).
#   2. The wheel: install it in a fresh virtualenv and run scripts/dist_smoke.py
#      there (import trioftp, start the `trioftp` command on a free loopback
#      port, an anonymous ftplib login and LIST, stop it).
#   3. The sdist: it holds LICENSE, docs/, examples/ and the whole of tests/
#      (every file git tracks there, in a git checkout); unpacked, installed
#      with its [test] extra in a fresh virtualenv, its test suite passes.
#      Arguments are passed to that pytest run (e.g. a subset of the tests).
#
# Work goes under $TRIOFTP_DIST_DIR (default: a new temporary directory).
# Needs what scripts/test.sh installs (curl, lftp, rclone, haproxy, passwd).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

work="${TRIOFTP_DIST_DIR:-$(mktemp -d)}"
mkdir -p "$work"
venv="${TRIOFTP_VENV:-.venv}"
python="$(command -v python3)"
pip_install() { "$1/bin/python" -m pip install -q --disable-pip-version-check "${@:2}"; }

echo "== build the sdist and the wheel"
"$venv/bin/python" -m build --outdir "$work/dist" . >"$work/build.log" 2>&1 || {
    cat "$work/build.log"
    exit 1
}
sdist=("$work"/dist/trioftp-*.tar.gz)
wheel=("$work"/dist/trioftp-*-py3-none-any.whl)
ls -l "${sdist[0]}" "${wheel[0]}"

echo "== the wheel in a fresh virtualenv: smoke test"
"$python" -m venv "$work/wheel"
pip_install "$work/wheel" "${wheel[0]}"
(cd "$work" && "$work/wheel/bin/python" "$root/scripts/dist_smoke.py")

echo "== the sdist's contents"
tar -tzf "${sdist[0]}" | sed 's|^[^/]*/||' | sort >"$work/sdist-files"
required=(LICENSE README.md pyproject.toml docs/architecture.md examples/README.md
    tests/__init__.py tests/conftest.py tests/support/__init__.py)
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    mapfile -t tracked < <(git ls-files docs examples tests)
    required+=("${tracked[@]}")
fi
missing=0
for path in "${required[@]}"; do
    grep -qxF "$path" "$work/sdist-files" || { echo "missing from the sdist: $path"; missing=1; }
done
[ "$missing" -eq 0 ]
echo "sdist: ${#required[@]} required files present"

echo "== the sdist's test suite, from the unpacked sdist in a fresh virtualenv"
mkdir "$work/sdist"
tar -xzf "${sdist[0]}" -C "$work/sdist"
source_dir=("$work"/sdist/trioftp-*)
"$python" -m venv "$work/sdist-venv"
pip_install "$work/sdist-venv" "${source_dir[0]}[test]"
(cd "${source_dir[0]}" && "$work/sdist-venv/bin/python" -m pytest -q -p no:cacheprovider "$@")
echo "check-dist: all checks passed"
