#!/usr/bin/env bash
# Set up the environment with test dependencies, lint, and run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-packages.sh
bash scripts/setup.sh "indexer,test"
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
