#!/usr/bin/env bash
# The Action's install, exactly as action.yml does it, in a fresh virtual environment: every
# requirement from the hash-locked requirements/action.txt, then jitops itself without
# dependencies or build isolation. Fails when the lock is stale (a dependency of jitops is
# missing from it or pinned outside pyproject.toml's range: `pip check`), or when it is not
# fully hashed. Prints how long the install took.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
work="$(mktemp -d)"
had_build=$([ -e build ] && echo yes || echo no)
cleanup() {
  rm -rf "$work"
  # setuptools builds in the source tree when build isolation is off
  if [ "$had_build" = no ]; then rm -rf build; fi
}
trap cleanup EXIT
start=$(date +%s.%N)
"$python" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
  --require-hashes --no-deps --only-binary :all: -r requirements/action.txt
"$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
  --no-deps --no-build-isolation --no-index .
end=$(date +%s.%N)
"$work/venv/bin/python" -m pip check
"$work/venv/bin/jitops" --version
python3 -c 'import sys; print(f"action install: {float(sys.argv[2]) - float(sys.argv[1]):.1f}s")' "$start" "$end"
