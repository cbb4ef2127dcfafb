#!/usr/bin/env bash
# Makes sure promtool is installed (Debian package prometheus): the test suite checks and
# unit-tests contrib/prometheus/palmdb-alerts.yml with it. Safe to run again and again.
# The package also installs a Prometheus server unit; it is not needed here and is left alone.
set -euo pipefail
command -v promtool >/dev/null 2>&1 && exit 0
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
echo "ensure-promtool: installing prometheus (for promtool)" >&2
as_root apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 \
  --no-install-recommends prometheus >/dev/null
command -v promtool >/dev/null 2>&1 || { echo "ensure-promtool: promtool is still missing" >&2; exit 1; }
