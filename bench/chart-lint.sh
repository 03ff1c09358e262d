#!/usr/bin/env bash
# Benchmark: `chart values lint` against `helm lint` and `helm template` on the same chart and values
# files, measured in the same hyperfine run (these machines are noisy: read the ratios), plus a
# table of which deliberately broken values files (tests/chart-lint/broken) each tool refuses and
# whether it names the line. Prints Markdown.
#
# Usage: CHART_BIN=build/release/chart HELM_BIN=build/tools/bin/helm bench/chart-lint.sh
#   RUNS (default 40) and WARMUP (default 5) tune hyperfine.
set -euo pipefail

cd "$(dirname "$0")/.."
CHART_BIN=${CHART_BIN:-build/release/chart}
HELM_BIN=${HELM_BIN:-build/tools/bin/helm}
RUNS=${RUNS:-40}
WARMUP=${WARMUP:-5}
CHART=chart/bollard
BROKEN_DIR=tests/chart-lint/broken

for tool in "$CHART_BIN" "$HELM_BIN"; do
  [ -x "$tool" ] || { echo "bench/chart-lint.sh: $tool is not built" >&2; exit 1; }
done
command -v hyperfine >/dev/null || { echo "bench/chart-lint.sh: hyperfine missing (.ci/install-deps bench)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "## chart values lint vs Helm ($(date -u +%Y-%m-%d), $(nproc) cores, $("$HELM_BIN" version --short))"
echo
echo "Wall time per invocation, hyperfine --runs $RUNS --warmup $WARMUP, all commands in one run."
echo
echo "| values | command | mean ms | ± ms | chart values lint is faster by |"
echo "|---|---|---:|---:|---:|"
for values in $CHART/ci/default-values.yaml $CHART/ci/production-values.yaml; do
  hyperfine -N --runs "$RUNS" --warmup "$WARMUP" --export-json "$work/run.json" --style none \
    "$CHART_BIN values lint --chart $CHART -f $values" \
    "$HELM_BIN lint $CHART -f $values" \
    "$HELM_BIN template bench $CHART -f $values" >/dev/null 2>&1
  cp "$work/run.json" "$work/run-$(basename "$values" .yaml).json"
  python3 - "$work/run.json" "$(basename "$values")" <<'EOF'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
ours = results[0]["mean"]
for r in results:
    tool = " ".join(r["command"].split()[0:1]).rsplit("/", 1)[-1] + " " + " ".join(r["command"].split()[1:3])
    ratio = "—" if r is results[0] else f"{r['mean'] / ours:.0f}×"
    print(f"| {sys.argv[2]} | `{tool.strip()}` | {r['mean'] * 1000:.2f} | {r['stddev'] * 1000:.2f} | {ratio} |")
EOF
done

echo
echo "## Which broken values file each tool refuses (line given?)"
echo
echo "Each file in $BROKEN_DIR is layered over the chart's values.yaml. For chart values lint, \"line N\""
echo "means the finding has the rule and line the file's header expects; for Helm, the line its message"
echo "names (only YAML syntax errors have one, and it is the start of the enclosing block)."
echo
echo "| file | expected (rule, line) | chart values lint | helm lint | helm template |"
echo "|---|---|---|---|---|"
caught_chart=0 caught_lint=0 caught_template=0 lines_chart=0 lines_helm=0 total=0
for f in "$BROKEN_DIR"/*.yaml; do
  total=$((total + 1))
  rule=$(sed -n 's/^# expect: \([^ ]*\) line \([0-9]*\).*/\1/p' "$f")
  line=$(sed -n 's/^# expect: \([^ ]*\) line \([0-9]*\).*/\2/p' "$f")
  set +e
  "$CHART_BIN" values lint --chart $CHART -f "$f" >"$work/chart.out" 2>&1; chart_rc=$?
  "$HELM_BIN" lint $CHART -f "$f" >"$work/lint.out" 2>&1; lint_rc=$?
  "$HELM_BIN" template bench $CHART -f "$f" >"$work/template.out" 2>&1; template_rc=$?
  set -e
  cell() { # rc, output file, tool
    local rc=$1 out=$2 tool=$3
    if [ "$rc" -eq 0 ]; then echo "accepts"; return; fi
    if [ "$tool" = chart ]; then
      if grep -q "^$f:$line:[0-9]*: .*\[$rule\]\$" "$out"; then echo "**refuses, line $line**"; else echo "refuses (no line)"; fi
    elif helm_line=$(grep -Eo "line [0-9]+" "$out" | head -1) && [ -n "$helm_line" ]; then
      echo "refuses, $helm_line"
    else
      echo "refuses, no line"
    fi
  }
  c=$(cell $chart_rc "$work/chart.out" chart); l=$(cell $lint_rc "$work/lint.out" helm); t=$(cell $template_rc "$work/template.out" helm)
  [ $chart_rc -ne 0 ] && caught_chart=$((caught_chart + 1))
  [ $lint_rc -ne 0 ] && caught_lint=$((caught_lint + 1))
  [ $template_rc -ne 0 ] && caught_template=$((caught_template + 1))
  case "$c" in *"line $line"*) lines_chart=$((lines_chart + 1)) ;; esac
  case "$l$t" in *"refuses, line"*) lines_helm=$((lines_helm + 1)) ;; esac
  echo "| $(basename "$f") | \`$rule\` $line | $c | $l | $t |"
done
echo "| **total** | $total files | **$caught_chart refused, $lines_chart with the line** | $caught_lint refused | $caught_template refused ($lines_helm with a line) |"
echo
echo "helm lint only logs a template \`fail\` (INFO), so it passes the files the chart's templates reject;"
echo "helm template (and install/upgrade) refuses them, without a line. Reproduce: make bench-chart-lint"

# Figures for bench/report.py (build/bench/results/chart-lint.json).
python3 - "$work" "$total" "$caught_chart" "$lines_chart" "$caught_lint" "$caught_template" <<'EOF'
import json, os, sys
sys.path.insert(0, "bench")
import results as r
work, total, caught, lines, caught_lint, caught_template = sys.argv[1], *map(int, sys.argv[2:])
rows, cmd = [], "make bench-chart-lint"
for name in ("default-values", "production-values"):
    runs = json.load(open(os.path.join(work, f"run-{name}.json")))["results"]
    ours, lint, template = (x["mean"] * 1000 for x in runs)
    rows.append(r.row(f"chart values lint, {name}.yaml, vs helm lint", round(ours, 2), "ms", cmd, "helm lint",
                      round(lint, 2), r.lower_is_better(ours, lint), 20.0))
    rows.append(r.row(f"chart values lint, {name}.yaml, vs helm template", round(ours, 2), "ms", cmd,
                      "helm template", round(template, 2), r.lower_is_better(ours, template)))
rows.append(r.row(f"broken values files refused, of {total}", caught, "files", cmd, "helm template", caught_template,
                  note=f"{lines} with the line; helm lint refuses {caught_lint}"))
r.record("chart-lint", rows)
EOF
