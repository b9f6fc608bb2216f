#!/usr/bin/env bash
# Developers, before the first release only: rewrite the single initial migration from the models.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
rm -f consult/migrations/versions/*_initial_schema.py
.venv/bin/telecenter --data-dir "$tmp" db revision -m "initial schema" >/dev/null
.venv/bin/ruff format -q consult/migrations/versions
.venv/bin/ruff check -q --fix consult/migrations/versions || true
rm -rf "$tmp"
ls consult/migrations/versions/*_initial_schema.py
