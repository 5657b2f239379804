#!/usr/bin/env bash
# Install the Debian packages the tests use, when they are missing and apt-get can run:
# redis-server (the queue's Redis mode), ffmpeg (with ffprobe), chromium + chromium-driver
# (the web UI's browser tests). Without them those tests skip with the reason.
set -uo pipefail
wanted=(redis-server ffmpeg chromium chromium-driver)
missing=()
for pkg in "${wanted[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "note: no apt-get; tests needing ${missing[*]} will be skipped" >&2
  exit 0
fi
sudo=""
[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo="sudo -n"
if [ "$(id -u)" -ne 0 ] && [ -z "$sudo" ]; then
  echo "note: not root; tests needing ${missing[*]} will be skipped" >&2
  exit 0
fi
echo "installing Debian packages: ${missing[*]}" >&2
$sudo apt-get update -qq >/dev/null 2>&1 || true
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
  "${missing[@]}" >/dev/null 2>&1 \
  || echo "note: could not install ${missing[*]}; those tests will be skipped" >&2
exit 0
