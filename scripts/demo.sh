#!/usr/bin/env bash
# The demo: a fresh palm_demo database, migrated, and palmdb's view of it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-postgres.sh
cargo build --release --quiet
palmdb=./target/release/palmdb
export DATABASE_URL=${DEMO_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/palm_demo}

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS palm_demo WITH (FORCE)" -c "CREATE DATABASE palm_demo"
step palmdb migrate
$palmdb migrate
step palmdb migrate status
$palmdb migrate status

# Stats: a small synthetic dataset, then one user's figures and a page of orders.
step palmdb demo-data --users 2000 --seed 1
$palmdb demo-data --users 2000 --seed 1
demo_user=$(psql "$DATABASE_URL" -Atc "SELECT upper(email) FROM users ORDER BY (SELECT count(*) FROM preorders AS p WHERE p.user_id = users.id) DESC, id LIMIT 1")
step palmdb stats user "$demo_user"
$palmdb stats user "$demo_user"
step palmdb stats orders --status refunded --limit 5
$palmdb stats orders --status refunded --limit 5
step palmdb stats orders --status shipped
$palmdb stats orders --status shipped || echo "(exit $?)"
