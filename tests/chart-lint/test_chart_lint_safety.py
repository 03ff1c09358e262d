"""Hostile input: `chart values lint` refuses it with exit 2 (a few cases are plain findings, exit 1),
quickly, within bounded memory, and without a sanitizer report (run these against build/asan)."""
import os
import random
import time

import pytest

from lintlib import lint

# Generous for ASan on a loaded 2-core machine; the release build takes milliseconds.
DEADLINE_SECONDS = 10


def run_bounded(path, *extra):
    start = time.monotonic()
    p = lint("--no-schema", "--no-chart-values", *extra, "-f", str(path), timeout=60)
    elapsed = time.monotonic() - start
    assert elapsed < DEADLINE_SECONDS, f"took {elapsed:.1f}s"
    return p


def billion_laughs():
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_billion_laughs(tmp_path):
    f = tmp_path / "laughs.yaml"
    f.write_text(billion_laughs())
    p = run_bounded(f)
    assert p.returncode == 2
    assert "[yaml-limit]" in p.out and "alias expansion" in p.out


def test_merge_key_bomb(tmp_path):
    lines = ["a0: &a0 {k: v}"]
    for i in range(1, 40):
        lines.append(f"a{i}: &a{i} {{<<: [*a{i-1}], x{i}: [*a{i-1}, *a{i-1}]}}")
    f = tmp_path / "merge.yaml"
    f.write_text("\n".join(lines) + "\n")
    assert run_bounded(f).returncode == 2


def test_ten_thousand_levels_of_flow_nesting(tmp_path):
    f = tmp_path / "deep.yaml"
    f.write_text("a: " + "[" * 10000 + "]" * 10000 + "\n")
    p = run_bounded(f)
    assert p.returncode == 2 and "nesting too deep" in p.out


def test_ten_thousand_levels_of_block_nesting(tmp_path):
    f = tmp_path / "deepblock.yaml"
    f.write_text("".join(" " * i + "k:\n" for i in range(10000)))
    p = run_bounded(f)
    assert p.returncode == 2 and "[yaml-limit]" in p.out


def test_twenty_megabyte_file(tmp_path):
    f = tmp_path / "big.yaml"
    with open(f, "w") as out:
        out.write("x: |\n")
        line = "  " + "a" * 98 + "\n"
        for _ in range(20 * 1024 * 1024 // len(line)):
            out.write(line)
    p = run_bounded(f)
    assert p.returncode == 2 and "larger than the 8 MiB limit" in p.out


def test_endless_device_is_bounded():
    p = run_bounded("/dev/zero")
    assert p.returncode == 2


@pytest.mark.parametrize("seed", range(5))
def test_binary_garbage(tmp_path, seed):
    f = tmp_path / "garbage.yaml"
    f.write_bytes(random.Random(seed).randbytes(200_000))
    assert run_bounded(f).returncode == 2


def test_invalid_utf8(tmp_path):
    f = tmp_path / "utf8.yaml"
    f.write_bytes(b"ok: 1\nbad: \"\xc3\x28\"\n")
    p = run_bounded(f)
    assert p.returncode == 2 and ":2:" in p.out and "[yaml-syntax]" in p.out


def test_control_characters(tmp_path):
    f = tmp_path / "nul.yaml"
    f.write_bytes(b"a: b\x00c\n")
    assert run_bounded(f).returncode == 2


def test_mutated_valid_values_never_crash(tmp_path):
    """Byte flips of a realistic values file: any exit status of 0/1/2 is fine, a crash is not."""
    from lintlib import CHART
    base = open(os.path.join(CHART, "values.yaml"), "rb").read()
    rng = random.Random(7)
    for i in range(40):
        data = bytearray(base)
        for _ in range(rng.randint(1, 20)):
            data[rng.randrange(len(data))] = rng.choice(b"{}[]:-&*!|>'\"#\n \t\x00\xff?,%@`")
        f = tmp_path / f"mut{i}.yaml"
        f.write_bytes(bytes(data))
        p = lint("--chart", CHART, "-f", str(f), timeout=60)
        assert p.returncode in (0, 1, 2), (i, p.returncode, p.err[-2000:])


def test_huge_mapping_and_many_duplicates_stay_fast(tmp_path):
    f = tmp_path / "wide.yaml"
    with open(f, "w") as out:
        for i in range(200_000):
            out.write(f"k{i % 100_000}: {i}\n")
    p = run_bounded(f, "--format", "json")
    assert p.returncode == 1
    assert '"duplicate-key"' in p.out


def test_schema_with_a_ref_cycle_is_refused(tmp_path):
    schema = tmp_path / "s.json"
    schema.write_text('{"$ref": "#"}')
    f = tmp_path / "v.yaml"
    f.write_text("a: 1\n")
    start = time.monotonic()
    p = lint("--schema", str(schema), "--no-chart-values", "-f", str(f))
    assert time.monotonic() - start < DEADLINE_SECONDS
    assert p.returncode == 2 and "[schema-error]" in p.out


def test_exponential_schema_is_bounded(tmp_path):
    """Each definition tries the previous one twice: 2^40 evaluations without the step budget."""
    import json
    definitions = {"d0": {"type": "integer"}}
    for i in range(1, 41):
        ref = {"$ref": f"#/definitions/d{i - 1}"}
        definitions[f"d{i}"] = {"anyOf": [ref, ref, {"type": "string"}]}
    schema = tmp_path / "s.json"
    schema.write_text(json.dumps({"definitions": definitions,
                                  "additionalProperties": {"$ref": "#/definitions/d40"}}))
    f = tmp_path / "v.yaml"
    f.write_text("a: [1]\n")
    start = time.monotonic()
    p = lint("--schema", str(schema), "--no-chart-values", "-f", str(f), timeout=60)
    assert time.monotonic() - start < DEADLINE_SECONDS
    assert p.returncode == 2 and "steps" in p.out


def test_deep_set_paths_are_refused(tmp_path):
    p = lint("--no-schema", "--no-chart-values", "--set", ".".join(["a"] * 40) + "=1")
    assert p.returncode == 2
    p = lint("--no-schema", "--no-chart-values", "--set", "a" + "[0]" * 500 + "=1")
    assert p.returncode == 2
