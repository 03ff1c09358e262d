#!/usr/bin/env bash
# Benchmarks one successful `probe http` of a local /health/live against the usual alternatives, all in
# the same run on the same server: curl -fsS, busybox wget -q and a python3 urllib one-liner.
# Wall time per run comes from hyperfine (no shell in between); peak RSS from bench/probe_peak_rss.c.
# The server is a throwaway nginx (`return 200`) on a free loopback port, stopped on exit.
# Usage: bench/probe.sh PATH/TO/probe PATH/TO/probe_peak_rss   (make bench-probe)
# Env: PROBE_BENCH_RUNS (hyperfine runs per command, default 300)
set -euo pipefail

probe=$(realpath "${1:?usage: bench/probe.sh PATH/TO/probe PATH/TO/probe_peak_rss}")
peak_rss=$(realpath "${2:?usage: bench/probe.sh PATH/TO/probe PATH/TO/probe_peak_rss}")
runs=${PROBE_BENCH_RUNS:-300}
here=$(dirname "$(realpath "$0")")
for tool in hyperfine nginx busybox curl /usr/bin/python3; do
  command -v "$tool" >/dev/null || { echo "bench-probe: $tool is missing (run .ci/install-deps bench)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/bollard-probe-bench.XXXXXX)
nginx_pid=
cleanup() {
  if [ -n "$nginx_pid" ]; then
    kill "$nginx_pid" 2>/dev/null || true
    wait "$nginx_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/logs" "$work/tmp"
cat >"$work/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/logs/error.log warn;
events { worker_connections 512; }
http {
  access_log off;
  client_body_temp_path $work/tmp/body;
  proxy_temp_path $work/tmp/proxy;
  fastcgi_temp_path $work/tmp/fastcgi;
  uwsgi_temp_path $work/tmp/uwsgi;
  scgi_temp_path $work/tmp/scgi;
  server {
    listen 127.0.0.1:$port;
    location = /health/live { default_type application/json; return 200 '{"status":"ok"}'; }
  }
}
CONF
nginx -e "$work/logs/error.log" -p "$work" -c "$work/nginx.conf" &
nginx_pid=$!

url="http://127.0.0.1:$port/health/live"
for _ in $(seq 100); do
  "$probe" http "$url" --timeout-ms 200 2>/dev/null && break
  sleep 0.05
done
"$probe" http "$url" || { echo "bench-probe: nginx did not come up" >&2; exit 1; }

python_cmd="/usr/bin/python3 -c 'import urllib.request; urllib.request.urlopen(\"$url\", timeout=2).read()'"
names=(probe "busybox wget" curl python3)
cmds=("$probe http $url"
      "busybox wget -q -O /dev/null $url"
      "curl -fsS -o /dev/null $url"
      "$python_cmd")

hyperfine_args=(-N --warmup 20 --runs "$runs" --export-json "$work/hyperfine.json" --style basic)
for i in "${!names[@]}"; do hyperfine_args+=(-n "${names[$i]}" "${cmds[$i]}"); done
hyperfine "${hyperfine_args[@]}"

python3 "$here/probe_report.py" "$work/hyperfine.json" "$probe" "$peak_rss" "${cmds[@]}"
