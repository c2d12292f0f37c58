#!/usr/bin/env bash
# Creates scripts/compare/.venv (CPython 3.10: the openfhe wheel only ships a cp310 extension)
# and installs the pinned benchmark dependencies.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-/root/.pyenv/versions/3.10.13/bin/python}
"$PYTHON" -m venv .venv
.venv/bin/pip install --upgrade pip==23.0.1 >/dev/null
.venv/bin/pip install -r requirements.txt
.venv/bin/python -c "import tenseal, openfhe, numpy; print('tenseal', tenseal.__version__, '| openfhe', openfhe.__version__, '| numpy', numpy.__version__)"
