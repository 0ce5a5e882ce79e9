#!/usr/bin/env bash
# The release build, as .github/workflows/release.yml runs it and .ci/run repeats it: from this
# checkout, build the sdist and the wheel of jitops and of jitops-sandbox (sandbox/) into
# OUTDIR (default dist/), check them with twine, and check the jitops wheel: it carries no
# stand-in (jitops_sandbox, jitops.sandbox, jitops.demo) and its build stamp names the commit
# checked out. With JITOPS_RELEASE_URL (the release's download URL) it also writes, into
# OUTDIR/../release-files/, SHA256SUMS and jitops-requirements.txt: the Action's hash-locked
# requirements plus the release's jitops wheel by URL and SHA-256, for
# `pip install --require-hashes -r jitops-requirements.txt`.
# Needs python3 with build and twine (pip install build twine), and git.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-dist}"
python="${PYTHON:-python3}"
rm -rf "$out"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
# isolated builds: setuptools and setuptools-scm at pyproject.toml's versions, from the index
"$python" -m build --outdir "$out" .
"$python" -m build --outdir "$out" sandbox
rm -rf build sandbox/build
"$python" -m twine check --strict "$out"/*
"$python" - "$out" "$(git rev-parse --verify HEAD)" <<'PY'
import sys, zipfile
from pathlib import Path

out, head = Path(sys.argv[1]), sys.argv[2]
wheels = sorted(out.glob("jitops-*.whl"))
sdists = sorted(out.glob("jitops-*.tar.gz"))
sandbox = sorted(out.glob("jitops_sandbox-*.whl"))
assert len(wheels) == 1 and len(sdists) == 1 and len(sandbox) == 1, sorted(out.iterdir())
names = zipfile.ZipFile(wheels[0]).namelist()
stand_ins = [n for n in names if n.startswith(("jitops_sandbox/", "jitops/sandbox/", "jitops/demo/"))]
assert not stand_ins, f"the jitops wheel carries stand-ins: {stand_ins[:5]}"
stamp = zipfile.ZipFile(wheels[0]).read("jitops/_build.py").decode()
assert f"COMMIT = {head!r}" in stamp, f"the wheel's stamp is not {head}:\n{stamp}"
assert any(n.startswith("jitops_sandbox/") for n in zipfile.ZipFile(sandbox[0]).namelist())
print(f"built {', '.join(p.name for p in sorted(out.iterdir()))}; stamped {head}")
PY
if [ -n "${JITOPS_RELEASE_URL:-}" ]; then
  files="$(dirname "$out")/release-files"
  rm -rf "$files"
  mkdir -p "$files"
  (cd "$out" && sha256sum -- *) > "$files/SHA256SUMS"
  wheel="$(cd "$out" && ls jitops-*.whl)"
  sum="$(sha256sum "$out/$wheel" | cut -d' ' -f1)"
  {
    echo "# jitops from its GitHub release, every file pinned by SHA-256:"
    echo "#   pip install --require-hashes -r jitops-requirements.txt"
    echo "jitops @ $JITOPS_RELEASE_URL/$wheel \\"
    echo "    --hash=sha256:$sum"
    grep -v '^#' requirements/action.txt
  } > "$files/jitops-requirements.txt"
  echo "wrote $files/SHA256SUMS and $files/jitops-requirements.txt"
fi
