# check-valgrind: the black-box API suite under valgrind memcheck (issue 9). Builds a non-sanitized
# debug bollard into build/valgrind (-O1 -g) and runs VALGRIND_TESTS with every `bollard` the harness
# starts wrapped in valgrind (tests/lib/harness.py BOLLARD_WRAPPER). A memcheck error or a definite leak
# makes that process exit 99, which the tests see as a failed exit; each process's report is kept in
# build/valgrind/logs/ and the ones with errors are printed at the end. Library-internal reports are
# suppressed in tests/valgrind.supp. About 2.5 minutes (142 tests, 25 bollard processes) plus the build,
# so it is part of `make test`; CHECK_VALGRIND=0 leaves it out.
VALGRIND_BUILD := build/valgrind
VALGRIND_LOGS := $(abspath $(VALGRIND_BUILD)/logs)
VALGRIND_TESTS ?= tests/tasks/test_journey.py tests/tasks/test_bodies.py tests/tasks/test_authorization.py \
  tests/tasks/test_webhooks.py tests/api/test_health.py tests/api/test_robustness.py tests/openapi \
  tests/dev/test_dev_webhooks.py
VALGRIND_CMD := valgrind --tool=memcheck --error-exitcode=99 --leak-check=full \
  --errors-for-leak-kinds=definite --show-leak-kinds=definite --track-origins=yes --num-callers=30 \
  --suppressions=$(abspath tests/valgrind.supp) --log-file=$(VALGRIND_LOGS)/bollard.%p.log

CHECK_VALGRIND ?= 1
ifeq ($(CHECK_VALGRIND),1)
TEST_TARGETS += check-valgrind
endif

.PHONY: check-valgrind
check-valgrind:
	@.ci/install-deps build test fuzz
	@$(MAKE) --no-print-directory BUILD=$(VALGRIND_BUILD) OPTFLAGS='-O1 -g -fno-omit-frame-pointer' LDSAN= \
	  -j$(NPROC) $(VALGRIND_BUILD)/bollard
	@rm -rf $(VALGRIND_LOGS) && mkdir -p $(VALGRIND_LOGS)
	@start=$$(date +%s); status=0; \
	BOLLARD_BUILD=$(abspath $(VALGRIND_BUILD)) BOLLARD_WRAPPER='$(VALGRIND_CMD)' \
	  python3 -m pytest -q -p no:cacheprovider $(VALGRIND_TESTS) $(PYTEST_ARGS) || status=$$?; \
	bad=$$(grep -l -E 'ERROR SUMMARY: [1-9]' $(VALGRIND_LOGS)/*.log 2>/dev/null); \
	for f in $$bad; do echo "== $$f"; cat $$f; done; \
	echo "check-valgrind: $$(ls $(VALGRIND_LOGS) | wc -l) bollard processes, $$(echo $$bad | wc -w) with memcheck errors, $$(( $$(date +%s) - start ))s"; \
	test $$status -eq 0 && test -z "$$bad"
