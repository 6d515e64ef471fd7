#!/usr/bin/env bash
# Runs every test of serin. Installs what the tests need first (idempotent: only what is
# missing), so it works on a fresh machine; CI (.ci/run) calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --all-targets --no-fail-fast
else
  cargo test --all-targets
fi
