#!/usr/bin/env bash
# Makes sure a 3-node Garage cluster (S3-compatible object storage) runs on loopback for the
# object storage tests and benchmarks; safe to run again and again, and fast when it is up.
#   - installs Garage with `cargo install garage --locked` if absent (once: the binary stays
#     in ~/.cargo/bin, which is what a CI cache keeps)
#   - 3 nodes in 3 zones, replication factor 3: any 2 nodes make a quorum, so one node can
#     be stopped and the store keeps working; with two stopped it refuses
#   - node N listens on 127.0.0.1: S3 API 391N0, RPC 391N1, admin API 391N2 (N = 1, 2, 3)
#   - data under ${PALMDB_GARAGE_DIR:-~/.cache/palmdb/garage}; the layout applied, the bucket
#     palmdb-test and an access key created
#   - the credentials go to $PALMDB_GARAGE_DIR/env (mode 0600), which tests and scripts
#     source; they are never printed
#
# Usage: scripts/ensure-garage.sh                  start (or check) the cluster
#        scripts/ensure-garage.sh --stop-node N    stop node N (a fault, for tests)
#        scripts/ensure-garage.sh --start-node N   start node N again and wait for it
#        scripts/ensure-garage.sh --stop           stop every node
set -euo pipefail

log() { echo "ensure-garage: $*" >&2; }

GARAGE_VERSION=2.5.0
ROOT=${PALMDB_GARAGE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/palmdb/garage}
BUCKET=palmdb-test
REGION=garage
NODES=(1 2 3)
s3_port() { echo $((39100 + $1 * 10)); }
rpc_port() { echo $((39100 + $1 * 10 + 1)); }
admin_port() { echo $((39100 + $1 * 10 + 2)); }

find_garage() {
  if [ -n "${PALMDB_GARAGE_BIN:-}" ]; then
    echo "$PALMDB_GARAGE_BIN"
  elif [ -x "$HOME/.cargo/bin/garage" ]; then
    echo "$HOME/.cargo/bin/garage"
  else
    command -v garage || true
  fi
}

install_garage() {
  mkdir -p "$ROOT"
  # One install at a time, whoever asks (tests and CI may start together).
  exec 8>"$ROOT/install.lock"
  flock 8
  GARAGE=$(find_garage)
  if [ -n "$GARAGE" ] && "$GARAGE" --version 2>/dev/null | grep -q "$GARAGE_VERSION"; then
    return
  fi
  command -v cargo >/dev/null || { log "cargo is needed to install Garage"; exit 1; }
  log "installing garage $GARAGE_VERSION with cargo (once; about 10-30 minutes)"
  # opt-level 1: the tests need a working store, not a fast one, and a fresh machine's CI run
  # spends most of its install time here (opt-level 3: 1,240 s on a fresh clone at load 6-8;
  # opt-level 1: 565 s beside other builds, 2026-11-27; not the same conditions). The storage
  # benchmark's figures (docs/benchmarks/storage.md) were taken with an opt-level 3 build:
  # PALMDB_GARAGE_OPT_LEVEL=3 for one like it.
  CARGO_PROFILE_RELEASE_OPT_LEVEL=${PALMDB_GARAGE_OPT_LEVEL:-1} \
    cargo install garage --version "$GARAGE_VERSION" --locked --quiet
  GARAGE=$HOME/.cargo/bin/garage
}

GARAGE=$(find_garage)
if [ -z "$GARAGE" ] || ! "$GARAGE" --version 2>/dev/null | grep -q "$GARAGE_VERSION"; then
  install_garage
fi

conf() { echo "$ROOT/node$1/garage.toml"; }
pid_of() { cat "$ROOT/node$1/pid" 2>/dev/null || true; }
running() { local pid; pid=$(pid_of "$1"); [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }
g() { local n=$1; shift; "$GARAGE" -c "$(conf "$n")" "$@"; }

write_config() { # N
  local n=$1 dir=$ROOT/node$1
  mkdir -p "$dir/meta" "$dir/data"
  cat >"$dir/garage.toml.new" <<EOF
# Written by scripts/ensure-garage.sh: node $n of palmdb's test cluster.
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "sqlite"
metadata_fsync = false
data_fsync = false
replication_factor = 3
consistency_mode = "consistent"
rpc_bind_addr = "127.0.0.1:$(rpc_port "$n")"
rpc_public_addr = "127.0.0.1:$(rpc_port "$n")"
rpc_secret_file = "$ROOT/rpc_secret"

[s3_api]
s3_region = "$REGION"
api_bind_addr = "127.0.0.1:$(s3_port "$n")"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:$(admin_port "$n")"
admin_token_file = "$ROOT/admin_token"
EOF
  chmod 600 "$dir/garage.toml.new"
  mv "$dir/garage.toml.new" "$dir/garage.toml"
}

wait_port() { # port seconds
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

start_node() { # N
  local n=$1
  if running "$n"; then return; fi
  write_config "$n"
  # setsid: a test's process group being killed must not take the store down with it; and
  # the script's lock files are not handed down (a server holding them would block the
  # next run for ever).
  setsid "$GARAGE" -c "$(conf "$n")" server >>"$ROOT/node$n/log" 2>&1 </dev/null 8>&- 9>&- &
  echo $! >"$ROOT/node$n/pid"
  if ! wait_port "$(rpc_port "$n")" 30 || ! wait_port "$(s3_port "$n")" 30; then
    log "node $n did not start; its log: $ROOT/node$n/log"
    tail -n 20 "$ROOT/node$n/log" >&2
    exit 1
  fi
}

stop_node() { # N
  local n=$1 pid i
  pid=$(pid_of "$n")
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for ((i = 0; i < 100; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$ROOT/node$n/pid"
}

# The cluster is healthy (every partition has a quorum) according to node 1's admin API.
healthy() {
  curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$(admin_port 1)/health" 2>/dev/null
}

wait_healthy() { # seconds
  local i
  for ((i = 0; i < $1 * 10; i++)); do
    healthy && return 0
    sleep 0.1
  done
  return 1
}

case "${1:-}" in
  --stop-node)
    stop_node "$2"
    exit 0
    ;;
  --start-node)
    start_node "$2"
    # Back in the cluster: connected to node 1 and the cluster healthy again.
    wait_healthy 60 || { log "node $2 did not rejoin"; exit 1; }
    exit 0
    ;;
  --stop)
    for n in "${NODES[@]}"; do stop_node "$n"; done
    exit 0
    ;;
  "") ;;
  *)
    echo "usage: $0 [--stop-node N | --start-node N | --stop]" >&2
    exit 2
    ;;
esac

# Fast path: every node up, the cluster healthy, the credentials written.
all_running() { for n in "${NODES[@]}"; do running "$n" || return 1; done; }
if all_running && [ -s "$ROOT/env" ] && healthy; then
  exit 0
fi

mkdir -p "$ROOT"
chmod 700 "$ROOT"
exec 9>"$ROOT/setup.lock"
flock 9
umask 077
[ -s "$ROOT/rpc_secret" ] || openssl rand -hex 32 >"$ROOT/rpc_secret"
[ -s "$ROOT/admin_token" ] || openssl rand -hex 32 >"$ROOT/admin_token"
for n in "${NODES[@]}"; do start_node "$n"; done

# Node ids, and every node connected to node 1.
ids=()
for n in "${NODES[@]}"; do
  id=$(g "$n" node id -q 2>/dev/null | head -n 1)
  ids+=("${id%%@*}")
done
for n in 2 3; do
  # Node 1 may not take the CLI's connection in its first moment: a few tries.
  for ((try = 1; ; try++)); do
    g 1 node connect "${ids[$((n - 1))]}@127.0.0.1:$(rpc_port "$n")" >/dev/null 2>&1 && break
    if ((try == 50)); then
      log "node 1 cannot connect to node $n; see $ROOT/node*/log"
      exit 1
    fi
    sleep 0.3
  done
done

# The layout, once, one node per zone, replication factor 3: version 0 means none was applied
# yet. A node just started may refuse the CLI for a moment (it then says it cannot connect),
# so ask until it answers; a guess from a failed answer would apply the layout a second time.
layout_version() {
  local i out version
  for ((i = 0; i < 100; i++)); do
    out=$(g 1 layout show 2>/dev/null) || out=""
    version=$(sed -n 's/^Current cluster layout version: \([0-9][0-9]*\)$/\1/p' <<<"$out")
    if [ -n "$version" ]; then
      echo "$version"
      return 0
    fi
    sleep 0.3
  done
  return 1
}
if ! current=$(layout_version); then
  log "node 1 does not answer for the cluster layout; see $ROOT/node1/log"
  exit 1
fi
if [ "$current" = 0 ]; then
  log "applying the layout: 3 nodes in zones z1, z2, z3"
  for n in "${NODES[@]}"; do
    g 1 layout assign -z "z$n" -c 10G "${ids[$((n - 1))]}" >/dev/null
  done
  g 1 layout apply --version 1 >/dev/null
fi
if ! wait_healthy 60; then
  log "the cluster is not healthy; see $ROOT/node*/log"
  exit 1
fi

# The key (chosen here, so it is known without parsing Garage's output) and the bucket.
if [ ! -s "$ROOT/env" ]; then
  key_id="GK$(openssl rand -hex 12)"
  secret=$(openssl rand -hex 32)
  cat >"$ROOT/env.new" <<EOF
# Written by scripts/ensure-garage.sh: palmdb's test cluster (node 1's S3 API).
export AWS_ACCESS_KEY_ID=$key_id
export AWS_SECRET_ACCESS_KEY=$secret
export AWS_REGION=$REGION
export AWS_ENDPOINT_URL=http://127.0.0.1:$(s3_port 1)
export AWS_ALLOW_HTTP=true
export PALMDB_TEST_S3_BUCKET=$BUCKET
export PALMDB_GARAGE_DIR=$ROOT
EOF
  mv "$ROOT/env.new" "$ROOT/env"
fi
# shellcheck source=/dev/null
key_id=$(. "$ROOT/env" && echo "$AWS_ACCESS_KEY_ID")
if ! g 1 key info "$key_id" >/dev/null 2>&1; then
  secret=$(. "$ROOT/env" && echo "$AWS_SECRET_ACCESS_KEY")
  g 1 key import --yes -n palmdb-test "$key_id" "$secret" >/dev/null
fi
if ! g 1 bucket info "$BUCKET" >/dev/null 2>&1; then
  g 1 bucket create "$BUCKET" >/dev/null
fi
g 1 bucket allow --read --write --owner "$BUCKET" --key "$key_id" >/dev/null
log "3 nodes up (S3 at http://127.0.0.1:$(s3_port 1)), bucket $BUCKET; credentials in $ROOT/env"
