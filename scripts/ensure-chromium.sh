#!/usr/bin/env bash
# Makes sure Debian's chromium and its chromedriver are installed: the dashboard's browser
# test (tests/suite/dashboard.rs) drives a real headless chromium. Safe to run again and again.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  exit 0
fi
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
echo "ensure-chromium: installing chromium and chromium-driver" >&2
as_root apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 \
  chromium chromium-driver >/dev/null
command -v chromedriver >/dev/null 2>&1 || { echo "ensure-chromium: chromedriver is still missing" >&2; exit 1; }
