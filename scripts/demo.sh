#!/usr/bin/env bash
# Set up, import the sample catalog into the embedded SQLite store, and search it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh "indexer"
export SMARTTAGS_DATA_DIR="${SMARTTAGS_DATA_DIR:-$PWD/.data/demo}"
st=.venv/bin/smarttags
$st import examples/sample_catalog.jsonl
$st stats
$st search "woman running"
$st search "running" --kind action --folder campaigns
$st search "shoe" --type image --limit 3
