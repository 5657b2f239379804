#!/usr/bin/env bash
# Set up, build a small sample library (generated videos and images), tag it into the embedded
# SQLite store, import the sample metadata catalog, and search.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh "indexer"
export SMARTTAGS_DATA_DIR="${SMARTTAGS_DATA_DIR:-$PWD/.data/demo}"
st=.venv/bin/smarttags
# Without a route to the model hub, fail the weights download at once (not after ~45 s of retries).
if ! .venv/bin/python -c "import socket; socket.create_connection(('huggingface.co', 443), 3)" \
  2>/dev/null; then
  export HF_HUB_OFFLINE=1
fi
library=.data/demo-library
$st sample-library "$library"

set +e
$st index "$library"
status=$?
set -e
if [ "$status" -eq 4 ]; then
  echo
  echo "The configured model could not be loaded (above). To show the pipeline anyway, the demo"
  echo "now creates a RANDOM-WEIGHT ViT-B-32 locally: real architecture and speed, meaningless tags."
  echo "With internet access, or with SMARTTAGS_MODEL/SMARTTAGS_PRETRAINED pointing at a local"
  echo "checkpoint, the real model is used instead."
  mapfile -t model < <(.venv/bin/python -m indexer.random_model ViT-B-32 .data/demo-model)
  export SMARTTAGS_MODEL="${model[0]}" SMARTTAGS_PRETRAINED="${model[1]}"
  $st index "$library" || true  # exit 1: the broken sample file failed, as it should
elif [ "$status" -ne 0 ] && [ "$status" -ne 1 ]; then
  exit "$status"
fi

$st import examples/sample_catalog.jsonl
$st stats
$st search "woman running"
$st search "running" --kind action --folder campaigns
$st search "" --folder campaigns/winter

# curation, folders and re-tagging
first=$($st search "" --folder campaigns/summer --limit 1 --json \
  | .venv/bin/python -c 'import json, sys; print(json.load(sys.stdin)["hits"][0]["id"])')
$st tags "$first"
$st tag add "$first" "summer campaign"
$st folder set campaigns/winter --video disable
$st folder show campaigns/winter/archive
$st reindex --retag --folder campaigns || true  # exit 1 only if a file failed
$st search "summer campaign"
$st audit "$first"
