#!/usr/bin/env bash
# Builds the Python plugin into target/python_guest.wasm with componentize-py, straight from the
# contract in ../../wit (no generated bindings are written into the source tree).
#
# componentize-py 0.25.1 (PyPI) is pinned; its components run on wasmtime 48.
# `--stub-wasi` replaces every WASI import with a trapping stub: the Python runtime otherwise
# imports wasi:filesystem and wasi:sockets, which `capcrm plugin install` refuses. The plugin uses
# no WASI at run time (no print, clock or file): an uncaught exception's traceback hits the stderr
# stub and traps (the host contains it). The stubbed build bakes the PRNG and hash seed in at build
# time, so `random` is not random and must not be used for secrets.
set -euo pipefail
cd "$(dirname "$0")"

version=0.25.1
venv=target/venv
out=target/python_guest.wasm

if [ ! -x "$venv/bin/componentize-py" ] || [ "$("$venv/bin/componentize-py" --version)" != "componentize-py $version" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "componentize-py==$version"
fi

# Up to date when the output is newer than the app and every WIT file.
if [ -f "$out" ]; then
  newer=$(find app.py build.sh ../../wit -newer "$out" -print -quit)
  if [ -z "$newer" ]; then
    echo "$out is up to date"
    exit 0
  fi
fi

# componentize-py imports the app at build time and leaves __pycache__ next to it: stage a copy.
rm -rf target/src && mkdir -p target/src && cp app.py target/src/
tmp="$out.tmp"
"$venv/bin/componentize-py" --quiet -d ../../wit -w plugin componentize --stub-wasi app -p target/src -o "$tmp"
mv "$tmp" "$out"
echo "built $out ($(wc -c < "$out") bytes)"
