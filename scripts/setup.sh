#!/usr/bin/env bash
# Create .venv (if needed) and install smarttags with the given extras, e.g. "indexer,test".
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-indexer}"
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# open_clip needs torchvision; torch and torchvision come from the package index together.
.venv/bin/python -m pip install --quiet --progress-bar off -e ".[${extras}]"
