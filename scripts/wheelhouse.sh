#!/usr/bin/env bash
# Download every file an air-gapped install needs into wheelhouse/FLAVOUR,
# for each FLAVOUR given (cpu, gpu): the hash-checked set of
# requirements/FLAVOUR.lock plus a wheel of the project itself.  Copy the
# folder to the site and run `make install-offline` there.
set -euo pipefail
cd "$(dirname "$0")/.."
PIP=${PIP:-pip}
out=${WHEELHOUSE:-wheelhouse}

for flavour in "$@"; do
  dest="$out/$flavour"
  mkdir -p "$dest"
  echo "==> $dest"
  if [ "$flavour" = gpu ]; then
    # PyPI only: a find-links folder holding torch 2.13.0+cpu (as on the
    # development machines) would win over PyPI's CUDA torch 2.13.0 and fail
    # its hash.
    env -u PIP_FIND_LINKS PIP_CONFIG_FILE=/dev/null \
      "$PIP" download --quiet --require-hashes -r "requirements/$flavour.lock" -d "$dest"
  else
    "$PIP" download --quiet --require-hashes -r "requirements/$flavour.lock" -d "$dest"
  fi
  # Some locked packages exist only as source; building them at the site needs
  # a build backend, so the project's own one is in the folder as well.
  "$PIP" download --quiet --no-deps -d "$dest" "setuptools>=68" wheel
  "$PIP" wheel --quiet --no-deps -w "$dest" .
  du -sh "$dest"
done
