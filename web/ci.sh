#!/usr/bin/env bash
# Checks of web/: the committed builds are current, the client's unit tests,
# and (with --browser) the headless-Chromium tests against ./cmd/herald.
# Needs node; --browser also needs /usr/bin/chromium (Debian's chromium
# package) and the npm registry for playwright-core.
set -euo pipefail
cd "$(dirname "$0")"
node build.mjs --check
node --test test/
if [[ "${1:-}" == "--browser" ]]; then
  (cd e2e && npm ci --no-audit --no-fund && node --test)
fi
