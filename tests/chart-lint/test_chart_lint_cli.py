"""`chart values lint` / `chart values docs` behaviour against a small chart of the test's own, so
that these tests do not depend on the state of chart/bollard."""
import json
import os
import re
import subprocess

import pytest

from lintlib import chart_bin, lint

SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "replicas": {"type": "integer", "minimum": 0, "description": "Pods to run"},
        "image": {
            "type": "object",
            "additionalProperties": False,
            "required": ["repository"],
            "properties": {
                "repository": {"type": "string", "minLength": 1},
                "tag": {"type": "string", "pattern": "^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$",
                        "description": "Image tag"},
            },
        },
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        "tolerations": {"type": "array", "items": {"type": "object"}},
        "codes": {"type": "array", "items": {"type": "integer"}, "uniqueItems": True},
        "flag": {"type": "boolean"},
        "mode": {"enum": ["a", "b"]},
        "secret": {"$ref": "#/definitions/secret"},
    },
    "definitions": {
        "secret": {"type": "object", "properties": {"key": {"type": "string", "pattern": "^$|^[\\s\\S]{8,}$"}}},
    },
}
VALUES = """\
# defaults
replicas: 2
image:
  repository: example/app
  tag: "1.0"
annotations: {}
tolerations:
  - key: a
codes: [1, 2]
flag: false
mode: a
"""


@pytest.fixture
def chart(tmp_path):
    d = tmp_path / "chart"
    d.mkdir()
    (d / "values.schema.json").write_text(json.dumps(SCHEMA, indent=2))
    (d / "values.yaml").write_text(VALUES)
    return d


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def findings(p):
    return [line for line in p.out.splitlines() if line]


# ---- help and usage -------------------------------------------------------------------------

def test_top_level_help_names_both_commands():
    p = subprocess.run([chart_bin(), "--help"], capture_output=True, text=True)
    assert p.returncode == 0
    assert "values lint" in p.stdout and "values docs" in p.stdout
    for option in ["--values", "--set-string", "--chart-values", "--format", "--fail-on", "--list-rules"]:
        assert option in p.stdout, option
    assert "Exit status: 0 clean, 1 findings, 2 " in p.stdout


def test_lint_help_lists_every_option_and_exit_status():
    p = lint("--help")
    assert p.returncode == 0
    for option in ["-f, --values", "--set K=V", "--set-string", "--chart DIR", "--schema FILE", "--no-schema",
                   "--chart-values FILE", "--no-chart-values", "--format", "--fail-on", "--list-rules", "--help"]:
        assert option in p.out, option
    for status in ["0  ", "1  ", "2  "]:
        assert status in p.out
    assert "Exit status" in p.out


def test_docs_help():
    p = subprocess.run([chart_bin(), "values", "docs", "--help"], capture_output=True, text=True)
    assert p.returncode == 0 and "Markdown" in p.stdout


@pytest.mark.parametrize("args", [["--bogus"], ["--format", "xml"], ["--fail-on", "never"], ["-f"],
                                  ["--set"], ["--schema", "/nonexistent/schema.json"]])
def test_usage_errors_exit_2(chart, args):
    extra = [] if "--schema" in args else ["--chart", str(chart)]
    p = lint(*extra, *args)
    assert p.returncode == 2, p.err
    assert p.err.strip()


def test_no_arguments_at_all_is_a_usage_error():
    p = subprocess.run([chart_bin()], capture_output=True, text=True)
    assert p.returncode == 2


def test_unreadable_file_exit_2(chart, tmp_path):
    p = lint("--chart", str(chart), "-f", str(tmp_path / "missing.yaml"))
    assert p.returncode == 2
    assert "missing.yaml: error: cannot open" in p.out and "[io-error]" in p.out


def test_list_rules_covers_the_fixture_rules():
    p = lint("--list-rules")
    assert p.returncode == 0
    listed = {line.split()[0] for line in p.out.splitlines()}
    from lintlib import BROKEN, fixture_header
    for path in BROKEN:
        assert fixture_header(path)["rule"] in listed


# ---- results and positions ------------------------------------------------------------------

def test_clean_values_exit_0_and_print_nothing(chart, tmp_path):
    f = write(tmp_path, "ok.yaml", "replicas: 3\nimage: {tag: '2.0'}\n")
    p = lint("--chart", str(chart), "-f", f)
    assert p.returncode == 0, p.out
    assert p.out == ""
    assert "no findings" in p.err


def test_finding_format_and_did_you_mean(chart, tmp_path):
    f = write(tmp_path, "typo.yaml", "replicas: 1\nimage:\n  repositry: x\n")
    p = lint("--chart", str(chart), "-f", f)
    assert p.returncode == 1
    assert f"{f}:3:3: error: unknown key 'repositry' in image (did you mean 'repository'?) [unknown-key]" in p.out


def test_global_is_always_allowed_at_the_top(chart, tmp_path):
    f = write(tmp_path, "g.yaml", "global: {anything: 1}\n")
    assert lint("--chart", str(chart), "-f", f).returncode == 0


def test_error_in_chart_defaults_points_at_values_yaml(chart):
    (chart / "values.yaml").write_text(VALUES.replace("replicas: 2", "replicas: two"))
    p = lint("--chart", str(chart))
    assert p.returncode == 1
    assert f"{chart}/values.yaml:2:1: error: replicas: expected integer" in p.out


def test_later_file_wins_and_is_blamed(chart, tmp_path):
    a = write(tmp_path, "a.yaml", "replicas: 5\n")
    b = write(tmp_path, "b.yaml", "# b\n\nreplicas: -1\n")
    p = lint("--chart", str(chart), "-f", a, "-f", b)
    assert p.returncode == 1
    assert findings(p) == [f"{b}:3:1: error: replicas: -1 is less than the minimum 0 [schema-range]"]


def test_lists_are_replaced_whole(chart, tmp_path):
    a = write(tmp_path, "a.yaml", "tolerations: [{key: x}, {key: y}]\n")
    b = write(tmp_path, "b.yaml", "tolerations: [oops]\n")
    p = lint("--chart", str(chart), "-f", a, "-f", b)
    assert findings(p) == [f"{b}:1:15: error: tolerations[0]: expected object, got string \"oops\" [schema-type]"]


def test_null_deletes_a_default(chart, tmp_path):
    f = write(tmp_path, "n.yaml", "image:\n  repository: null\n")
    p = lint("--chart", str(chart), "-f", f)
    assert f"{f}:1:1: error: image: missing required key 'repository' [schema-required]" in p.out


def test_duplicate_keys_are_reported(chart, tmp_path):
    f = write(tmp_path, "d.yaml", "replicas: 1\nflag: true\nreplicas: 2\n")
    p = lint("--chart", str(chart), "-f", f)
    assert p.returncode == 1
    assert f"{f}:3:1: error: replicas: duplicate key (first at line 1)" in p.out


def test_anchor_merge_keys_and_aliases(chart, tmp_path):
    f = write(tmp_path, "m.yaml",
              "image: &img\n  repository: a/b\n  tag: '1'\n"
              "annotations:\n  <<: {x: 'y'}\n  z: 'w'\n")
    assert lint("--chart", str(chart), "-f", f).returncode == 0


def test_yaml_1_1_booleans_are_booleans(chart, tmp_path):
    f = write(tmp_path, "b.yaml", "replicas: yes\n")
    p = lint("--chart", str(chart), "-f", f)
    assert "expected integer, got boolean yes" in p.out


def test_stdin(chart):
    p = lint("--chart", str(chart), "-f", "-", stdin=b"replicas: many\n")
    assert p.returncode == 1
    assert p.out.startswith("<stdin>:1:1: error: replicas: expected integer")


def test_yaml_syntax_error_exit_2_with_position(chart, tmp_path):
    f = write(tmp_path, "s.yaml", "a: [1, 2\nb: 3\n")
    p = lint("--chart", str(chart), "-f", f)
    assert p.returncode == 2
    assert re.search(re.escape(f) + r":\d+:\d+: error: .* \[yaml-syntax\]", p.out), p.out


def test_top_level_must_be_a_mapping(chart, tmp_path):
    f = write(tmp_path, "l.yaml", "- a\n- b\n")
    p = lint("--chart", str(chart), "-f", f)
    assert p.returncode == 2 and "[values-structure]" in p.out


def test_files_as_arguments_are_linted_one_by_one(chart, tmp_path):
    a = write(tmp_path, "a.yaml", "replicas: -3\n")
    b = write(tmp_path, "b.yaml", "replicas: 1\n")
    p = lint("--chart", str(chart), a, b)
    assert p.returncode == 1
    assert findings(p) == [f"{a}:1:1: error: replicas: -3 is less than the minimum 0 [schema-range]"]
    assert lint("--chart", str(chart), b).returncode == 0


def test_files_as_arguments_and_f_do_not_mix(chart, tmp_path):
    a = write(tmp_path, "a.yaml", "replicas: 1\n")
    assert lint("--chart", str(chart), "-f", a, a).returncode == 2


def test_chart_values_given_with_f_are_not_read_twice(chart):
    (chart / "values.yaml").write_text(VALUES + "flag: true\n")
    p = lint("--chart", str(chart), "-f", str(chart / "values.yaml"))
    assert len([x for x in findings(p) if "duplicate-key" in x]) == 1


def test_fail_on_error_lets_warnings_pass(tmp_path):
    f = write(tmp_path, "w.yaml", "a: 1\n---\nb: 2\n")
    p = lint("--no-schema", "--no-chart-values", "-f", f)
    assert p.returncode == 1 and "[multiple-documents]" in p.out
    assert lint("--no-schema", "--no-chart-values", "--fail-on", "error", "-f", f).returncode == 0


def test_ecma_any_character_class_pattern(chart, tmp_path):
    short = write(tmp_path, "s.yaml", "secret: {key: 'short'}\n")
    long = write(tmp_path, "l.yaml", "secret: {key: \"long enough\\nwith newline\"}\n")
    assert "[schema-pattern]" in lint("--chart", str(chart), "-f", short).out
    assert lint("--chart", str(chart), "-f", long).returncode == 0


# ---- --set ----------------------------------------------------------------------------------

def test_set_is_typed_like_helm(chart):
    assert lint("--chart", str(chart), "--set", "replicas=3,flag=true").returncode == 0
    p = lint("--chart", str(chart), "--set", "flag=false", "--set", "replicas=03")
    assert findings(p) == ["--set[2]:1:1: error: replicas: expected integer, got string \"03\" [schema-type]"]


def test_set_string_forces_strings(chart):
    p = lint("--chart", str(chart), "--set-string", "replicas=3")
    assert findings(p) == ["--set[1]:1:1: error: replicas: expected integer, got string \"3\" [schema-type]"]


def test_set_column_points_at_the_assignment(chart):
    p = lint("--chart", str(chart), "--set", "flag=true,replicas=x")
    assert findings(p)[0].startswith("--set[1]:1:11: error: replicas:")


def test_set_lists_indexes_and_escapes(chart):
    assert lint("--chart", str(chart), "--set", "codes={3,4}", "--set", "tolerations[0].key=b").returncode == 0
    # As in Helm, --set indexes into the user's values, not the chart defaults: tolerations[1] on a
    # list only the chart defines makes [null, {key: b}], which then replaces the default list.
    p = lint("--chart", str(chart), "--set", "tolerations[1].key=b")
    assert findings(p) == ["--set[1]:1:1: error: tolerations[0]: expected object, got null [schema-type]"]
    p = lint("--chart", str(chart), "--set", "codes={3,3}")
    assert "[schema-unique]" in p.out
    p = lint("--chart", str(chart), "--set-string", "annotations.example\\.com/team=a\\,b")
    assert p.returncode == 0, p.out
    p = lint("--chart", str(chart), "--set", "annotations.example\\.com/n=1")
    assert "annotations.example.com/n: expected string, got integer 1" in p.out


def test_set_null_deletes(chart):
    p = lint("--chart", str(chart), "--set", "image.repository=null")
    assert "missing required key 'repository'" in p.out


@pytest.mark.parametrize("arg", ["a", "a,b=1", "a[x]=1", "a[-1]=1", "a[70000]=1", "a={1,2", "a.=1"])
def test_set_syntax_errors_exit_2(chart, arg):
    p = lint("--chart", str(chart), "--set", arg)
    assert p.returncode == 2, p.out
    assert "[set-syntax]" in p.out


# ---- formats --------------------------------------------------------------------------------

@pytest.fixture
def broken(chart, tmp_path):
    return write(tmp_path, "x.yaml", "replicas: -1\nmode: c\n")


def test_json_format(chart, broken):
    p = lint("--chart", str(chart), "-f", broken, "--format", "json")
    doc = json.loads(p.out)
    assert doc["summary"] == {"errors": 2, "warnings": 0}
    first = doc["findings"][0]
    assert first == {"file": broken, "line": 1, "column": 1, "severity": "error", "rule": "schema-range",
                     "path": "replicas", "message": "replicas: -1 is less than the minimum 0"}


def test_sarif_format_has_real_regions(chart, broken):
    p = lint("--chart", str(chart), "-f", broken, "--format=sarif")
    doc = json.loads(p.out)
    assert doc["version"] == "2.1.0"
    run = doc["runs"][0]
    rule_ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    results = run["results"]
    assert [r["ruleId"] for r in results] == ["schema-range", "schema-enum"]
    for r in results:
        assert rule_ids[r["ruleIndex"]] == r["ruleId"]
    loc = results[1]["locations"][0]
    assert loc["physicalLocation"]["artifactLocation"]["uri"] == "file://" + broken
    assert loc["physicalLocation"]["region"] == {"startLine": 2, "startColumn": 1}
    assert loc["logicalLocations"][0]["fullyQualifiedName"] == "mode"


def test_github_format(chart, broken):
    p = lint("--chart", str(chart), "-f", broken, "--format", "github")
    lines = findings(p)
    assert lines[0] == (f"::error file={broken},line=1,col=1,title=schema-range::"
                        "replicas: -1 is less than the minimum 0 [schema-range]")
    p = lint("--chart", str(chart), "--set", "replicas=-1", "--format", "github")
    assert findings(p)[0].startswith("::error title=schema-range::--set[1] (column 1): replicas")


def test_load_errors_use_the_chosen_format(chart, tmp_path):
    f = write(tmp_path, "bad.yaml", "a: [\n")
    p = lint("--chart", str(chart), "-f", f, "--format", "json")
    assert p.returncode == 2
    assert json.loads(p.out)["findings"][0]["rule"] == "yaml-syntax"


# ---- docs -----------------------------------------------------------------------------------

def test_docs_table(chart):
    p = subprocess.run([chart_bin(), "values", "docs", "--chart", str(chart)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "| Key | Type | Default | Description |"
    assert "| `replicas` | integer | `2` | Pods to run |" in lines
    assert "| `image.tag` | string | `\"1.0\"` | Image tag |" in lines
    assert any(line.startswith("| `mode` | enum |") and 'One of ["a","b"]' in line for line in lines)


def test_docs_of_the_real_chart():
    from lintlib import CHART
    p = subprocess.run([chart_bin(), "values", "docs", "--chart", CHART], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "| `image.repository` |" in p.stdout
    assert "| `config.environment` |" in p.stdout
