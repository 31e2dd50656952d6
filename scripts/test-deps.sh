#!/usr/bin/env bash
# Runs before `npm test` (the pretest script): the suite converts real recordings and talks to a
# real Redis, so it needs lame, ffmpeg and redis-server. Installs the missing ones from the OS's
# packages (apt-get, as root or through sudo); elsewhere says what to install and stops.
set -euo pipefail

missing=()
for tool in lame ffmpeg redis-server; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
# The console's browser test drives Debian's chromium at this path (playwright-core never downloads one).
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0

echo "npm test: installing ${missing[*]} (the suite uses the real programs)" >&2
if ! command -v apt-get >/dev/null; then
  echo "npm test: no apt-get here: install ${missing[*]} with this system's package manager, then run npm test again" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "npm test: installing ${missing[*]} needs root (or sudo)" >&2; exit 1; }
  sudo="sudo"
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
