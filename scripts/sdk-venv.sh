#!/usr/bin/env bash
# Creates, once, the Python virtualenv the SDK compatibility tests run in (the official
# `alguna` SDK and pytest, from tests/sdk/requirements.txt), and prints its python.
# ABACUS_SDK_VENV overrides the location (default: target/sdk-venv).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${ABACUS_SDK_VENV:-$root/target/sdk-venv}
requirements=$root/tests/sdk/requirements.txt
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
stamp=$venv/.requirements
if [[ ! -x $venv/bin/python ]] || ! cmp -s "$requirements" "$stamp"; then
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements" >&2
  cp "$requirements" "$stamp"
fi
echo "$venv/bin/python"
