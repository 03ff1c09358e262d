#!/usr/bin/env bash
# `make run`: `bollard dev` — migrations and the API in one process on an embedded SQLite file, no
# PostgreSQL or Redis — with a generated development configuration, so that a fresh checkout needs
# nothing else. State lives in build/dev/ (BOLLARD_DEV_DIR overrides it):
#   bollard.db   the SQLite database (delete it to start over)
#   secret_key   a random SECRET_KEY made on the first run and reused, passed as SECRET_KEY_FILE
# PORT (default 8000) and METRICS_PORT (default 9090, /metrics) move to the next free port when
# taken. Ctrl-C stops the server.
set -euo pipefail

bin=${BOLLARD_BUILD:-build/release}/bollard
dir=${BOLLARD_DEV_DIR:-build/dev}
first_port=${PORT:-8000}
first_metrics_port=${METRICS_PORT:-9090}
# Optional settings a developer may pass through; everything else comes from here, so stray
# DATABASE_URL/REDIS_URL/SECRET_KEY values in the caller's shell cannot leak into dev mode.
passthrough=(LOG_LEVEL API_THREADS ACCESS_LOG FRONTEND_URL JWT_EXPIRATION_DAYS MAX_BODY_BYTES
             PASSWORD_HASH_THREADS WORKER_CONCURRENCY WEBHOOK_MAX_ATTEMPTS WEBHOOK_TIMEOUT_MS
             WEBHOOK_ALLOW_PRIVATE ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS)

if [ ! -x "$bin" ]; then
    echo "run: $bin is not built; use \`make run\`" >&2
    exit 1
fi
# Owner-only: the database holds password hashes (bollard dev also creates it 0600).
(umask 077 && mkdir -p "$dir")

key=$dir/secret_key
if [ ! -s "$key" ]; then
    # 32 bytes from the kernel's CSPRNG as 64 hex characters, readable by the owner only.
    (umask 077 && od -An -v -N 32 -tx1 /dev/urandom | tr -d ' \n' >"$key.tmp" && mv "$key.tmp" "$key")
fi

# Something accepts connections there (bollard listens with SO_REUSEPORT, so binding would not tell).
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_from FIRST VARIABLE [AVOID]: the first port from FIRST that is not taken (nor AVOID).
free_from() {
    local first=$1 name=$2 avoid=${3:-0} p=$1
    while port_taken "$p" || [ "$p" = "$avoid" ]; do
        p=$((p + 1))
        if [ $((p - first)) -ge 100 ] || [ "$p" -gt 65535 ]; then
            echo "run: no free port in $first..$((p - 1)); set $name" >&2
            return 1
        fi
    done
    [ "$p" = "$first" ] || echo "run: port $first is taken; using $p for $name" >&2
    echo "$p"
}
port=$(free_from "$first_port" PORT)
metrics_port=$(free_from "$first_metrics_port" METRICS_PORT "$port")

# Nothing routes traffic to a dev server, so the drain after Ctrl-C is short (not 0: h2o 2.2.5 keeps
# a one-second HTTP/2 shutdown timer that must fire before the loops are torn down).
# Webhook receivers under development usually listen on this machine: private targets are allowed
# here (WEBHOOK_ALLOW_PRIVATE=false in the caller's shell turns that off again).
env_args=(PATH="$PATH" ENVIRONMENT=dev LOG_LEVEL=info DATABASE_URL="sqlite:$dir/bollard.db"
          SECRET_KEY_FILE="$key" PORT="$port" METRICS_PORT="$metrics_port" SHUTDOWN_DRAIN_SECONDS=2 WEBHOOK_ALLOW_PRIVATE=true)
for name in "${passthrough[@]}"; do
    [ -z "${!name:-}" ] || env_args+=("$name=${!name}")
done

# bollard gets a process group of its own (set -m), so a Ctrl-C in the terminal reaches it exactly
# once, passed on by the trap: the first one shuts it down gracefully, a second one at once.
set -m
env -i "${env_args[@]}" "$bin" dev &
pid=$!
set +m
trap 'kill -INT "$pid" 2>/dev/null || true' INT
trap 'kill -TERM "$pid" 2>/dev/null || true' TERM HUP

for _ in $(seq 1 300); do
    port_taken "$port" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$pid" 2>/dev/null && port_taken "$port"; then
    cat <<BANNER

  Bollard is running in dev mode (embedded SQLite: $dir/bollard.db; no PostgreSQL, no Redis;
  webhooks are delivered in process, local receivers allowed)
    console    http://127.0.0.1:$port/
    API docs   http://127.0.0.1:$port/docs
    readiness  http://127.0.0.1:$port/health/ready
    metrics    http://127.0.0.1:$metrics_port/metrics
  Ctrl-C stops it; the data stays (delete $dir/bollard.db to start over).

BANNER
fi

rc=0
while :; do
    wait "$pid" && rc=0 || rc=$?
    kill -0 "$pid" 2>/dev/null || break # wait returns early when a trapped signal arrives
done
exit "$rc"
