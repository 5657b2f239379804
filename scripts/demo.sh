#!/usr/bin/env bash
# The demo: set up .venv, generate a small sample library (videos and images, and one upload
# cut off half-way), tag it into the embedded SQLite store, import a metadata catalog, search,
# curate, opt a folder out and re-tag. Its settings are written to .data/demo.toml, so that
# `export SMARTTAGS_CONFIG_FILE="$PWD/.data/demo.toml"` goes on with its data (README).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${SMARTTAGS_DEMO_SKIP_SETUP:-}" = 1 ] || bash scripts/setup.sh "indexer"
st=.venv/bin/smarttags
config=.data/demo.toml
library=.data/demo-library
mkdir -p .data
export SMARTTAGS_DATA_DIR="${SMARTTAGS_DATA_DIR:-$PWD/.data/demo}"
printf 'data_dir = "%s"\n' "$SMARTTAGS_DATA_DIR" > "$config"

$st sample-library "$library"

# The configured model (default: ViT-B-32 with DataComp weights, downloaded on first use).
# Exit 1 is expected: the cut-off upload fails, as it should, and is listed as failed.
set +e
$st index "$library"
status=$?
set -e
if [ "$status" -eq 4 ]; then
  echo
  echo "The configured model could not be loaded (above: no internet, no local checkpoint)."
  echo "To show the pipeline anyway, the demo goes on with a RANDOM-WEIGHT ViT-B-32 written"
  echo "locally: real architecture and speed, meaningless tags. It is recorded in $config."
  eval "$($st demo-model .data/demo-model)"
  printf 'model = "%s"\npretrained = "%s"\n' "$SMARTTAGS_MODEL" "$SMARTTAGS_PRETRAINED" \
    >> "$config"
  $st index "$library" || [ $? -eq 1 ]  # 1: the cut-off upload failed, as it should
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
# re-scores cached embeddings; the cut-off upload fails again (exit 1), the rest is re-tagged
$st reindex --retag || [ $? -eq 1 ]
$st search "summer campaign"
$st audit "$first"
echo
echo "Go on with this data: export SMARTTAGS_CONFIG_FILE=\"$PWD/$config\" (see the README)."
