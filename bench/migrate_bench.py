#!/usr/bin/env python3
"""`bollard migrate` vs `alembic upgrade head`, each on an up-to-date database of the same schema.

This is the cost every deployment pays when there is nothing to migrate (the common case: the
migration Job runs on every `helm upgrade`). Both tools run in the same run, against the same
throwaway PostgreSQL (loopback TCP, trust auth), timed by hyperfine without a shell; each command is
prefixed by env(1) to set its DATABASE_URL, which costs both the same.

The Alembic peer (bench/peers/alembic) is installed with pinned versions into a virtualenv under
build/bench. Usage: make bench-migrate   Env: MIGRATE_BENCH_RUNS (default 40)
"""
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
import harness  # tests/lib: PYTHONPATH, set by the bench targets (bench/bench.mk)
import results as bench_results

PEER = os.path.join(HERE, "peers", "alembic")
VENV = os.path.join(REPO, "build", "bench", "alembic-venv")
PINS = ["alembic==1.20.1", "sqlalchemy==2.1.9", "psycopg2-binary==2.9.13"]
RUNS = int(os.environ.get("MIGRATE_BENCH_RUNS", "40"))
GOAL = 20.0


def ensure_alembic():
    alembic = os.path.join(VENV, "bin", "alembic")
    stamp = os.path.join(VENV, "pins.txt")
    if os.path.exists(alembic) and os.path.exists(stamp) and open(stamp).read() == "\n".join(PINS):
        return alembic
    shutil.rmtree(VENV, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
    subprocess.run([os.path.join(VENV, "bin", "pip"), "install", "-q"] + PINS, check=True)
    with open(stamp, "w") as f:
        f.write("\n".join(PINS))
    return alembic


def columns(pg, db):
    """The user-visible shape of the two tables, to check both tools built the same schema."""
    return pg.psql("SELECT string_agg(format('%s.%s %s %s %s', table_name, column_name, data_type, is_nullable, "
                   "coalesce(column_default, '')), E'\\n' ORDER BY table_name, ordinal_position) "
                   "FROM information_schema.columns WHERE table_name IN ('users', 'tasks')", db=db)


def main():
    bollard = harness.binary("bollard")
    alembic = ensure_alembic()
    if shutil.which("hyperfine") is None:
        sys.exit("bench-migrate: hyperfine is missing (run .ci/install-deps bench)")
    pg = harness.Postgres()
    out_dir = os.path.join(REPO, "build", "bench")
    os.makedirs(out_dir, exist_ok=True)
    try:
        bollard_url = pg.new_database("bench_bollard")
        alembic_url = pg.new_database("bench_alembic")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "ENVIRONMENT": "production", "LOG_LEVEL": "info"}
        bollard_cmd = ["env", "DATABASE_URL=" + bollard_url, bollard, "migrate"]
        alembic_cmd = ["env", "DATABASE_URL=" + alembic_url, alembic, "-c", os.path.join(PEER, "alembic.ini"),
                       "upgrade", "head"]
        # Bring both databases up to date, then check they hold the same schema.
        subprocess.run(bollard_cmd, env=env, check=True, capture_output=True)
        subprocess.run(alembic_cmd, env=env, check=True, capture_output=True)
        a, b = columns(pg, "bench_bollard"), columns(pg, "bench_alembic")
        if a != b:
            sys.exit(f"bench-migrate: the two schemas differ:\n--- bollard\n{a}\n--- alembic\n{b}")

        result_path = os.path.join(out_dir, "migrate.json")
        subprocess.run(["hyperfine", "-N", "--warmup", "3", "--runs", str(RUNS), "--export-json", result_path,
                        "-n", "bollard migrate", " ".join(bollard_cmd),
                        "-n", "alembic upgrade head", " ".join(alembic_cmd)],
                       env=env, check=True)
        with open(result_path) as f:
            results = {r["command"]: r for r in json.load(f)["results"]}
        ours, peer = results["bollard migrate"], results["alembic upgrade head"]
        ratio_mean = peer["mean"] / ours["mean"]
        ratio_median = peer["median"] / ours["median"]
        print("\n| up-to-date database | mean | median | min | runs |")
        print("|---|---|---|---|---|")
        for name, r in (("bollard migrate", ours), ("alembic upgrade head", peer)):
            print(f"| {name} | {r['mean'] * 1000:.1f} ms ± {r['stddev'] * 1000:.1f} | {r['median'] * 1000:.1f} ms | "
                  f"{r['min'] * 1000:.1f} ms | {len(r['times'])} |")
        print(f"\nbollard migrate is {ratio_mean:.1f}x faster (mean), {ratio_median:.1f}x (median); "
              f"goal >= {GOAL:.0f}x: {'met' if ratio_mean >= GOAL else 'NOT met'}")
        print(f"raw: {result_path}")
        bench_results.record("migrate", [bench_results.row(
            "migrate an up-to-date database (mean)", round(ours["mean"] * 1000, 1), "ms", "make bench-migrate",
            "alembic upgrade head", round(peer["mean"] * 1000, 1), ratio_mean, GOAL)])
    finally:
        pg.destroy()


if __name__ == "__main__":
    main()
