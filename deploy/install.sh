#!/bin/sh
# Install the S-Pole agent on this board: see docs/installer.md. Options: deploy/install.sh --help
# (e.g. --wheel FILE --find-links DIR for an offline install, --root DIR to stage into a folder).
set -eu
PY=${PYTHON:-python3}
if ! command -v "$PY" >/dev/null 2>&1; then
  echo "install: python3 not found (apt-get install python3 python3-venv)" >&2; exit 1
fi
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "install: $("$PY" --version 2>&1) is too old: Python 3.11 or newer is needed" >&2; exit 1
fi
exec "$PY" "$(dirname "$0")/install.py" "$@"
