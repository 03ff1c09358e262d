"""`make run` (scripts/run-dev.sh): `bollard dev` with a generated dev configuration and nothing else."""
import os
import re
import signal
import socket
import subprocess
import threading

import harness

SCRIPT = os.path.join(harness.REPO, "scripts", "run-dev.sh")


class Run:
    """scripts/run-dev.sh in the background, its output collected line by line."""

    def __init__(self, state_dir, port, **extra):
        env = harness.base_env()  # sanitizer options pass through; the rest is the script's
        env.update({"BOLLARD_BUILD": harness.BUILD, "BOLLARD_DEV_DIR": str(state_dir), "PORT": str(port),
                    "METRICS_PORT": str(harness.free_port()),
                    # stray settings in a developer's shell must not leak into dev mode
                    "SECRET_KEY": "short", "REDIS_URL": "redis://127.0.0.1:1/0", "ENVIRONMENT": "production"})
        env.update(extra)
        self.proc = subprocess.Popen([SCRIPT], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        self.lines = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)

    def text(self):
        return "".join(self.lines)

    def url(self):
        def banner():
            if self.proc.poll() is not None:
                raise AssertionError(f"run-dev.sh exited with {self.proc.returncode}: {self.text()}")
            m = re.search(r"API docs\s+(http://127\.0\.0\.1:(\d+))/docs", self.text())
            return m and (m.group(1), int(m.group(2)))
        return harness.wait_until(banner, timeout=30, what="the run-dev.sh banner")

    def metrics_url(self):
        m = re.search(r"metrics\s+(http://127\.0\.0\.1:\d+/metrics)", self.text())
        assert m, self.text()
        return m.group(1)

    def interrupt(self):
        self.proc.send_signal(signal.SIGINT)  # what Ctrl-C does to the script
        return self.proc.wait(30)


def test_make_run_starts_dev_mode_with_generated_config(tmp_path):
    state = tmp_path / "dev"
    with socket.socket() as busy:  # PORT is taken: the next free one is used
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        run = Run(state, taken)
        base, port = run.url()
        assert port != taken and f"port {taken} is taken" in run.text()
        assert harness.get(base + "/docs")[0] == 200
        status, _, body = harness.get(run.metrics_url())  # METRICS_PORT, named in the banner
        assert status == 200 and b"bollard_build_info" in body
        assert harness.get(base + "/metrics")[0] == 404
        harness.wait_until(lambda: harness.get(base + "/health/ready")[0] == 200, timeout=15, what="ready")
        key = (state / "secret_key").read_text()
        assert re.fullmatch(r"[0-9a-f]{64}", key)
        assert (os.stat(state / "secret_key").st_mode & 0o777) == 0o600
        assert (state / "bollard.db").exists()
        assert run.interrupt() == 0, run.text()
        assert "shutdown complete" in run.text()
        assert "AddressSanitizer" not in run.text() and "runtime error:" not in run.text()

    run = Run(state, harness.free_port())  # again: the same key and database
    base, _ = run.url()
    assert (state / "secret_key").read_text() == key
    assert "dev database is up to date" in run.text()
    assert run.interrupt() == 0, run.text()


def test_make_run_target():
    out = subprocess.run(["make", "-n", "run"], cwd=harness.REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert ".ci/install-deps build" in out.stdout and "scripts/run-dev.sh" in out.stdout
    assert "devrun.py" not in out.stdout  # no throwaway PostgreSQL/Redis any more
