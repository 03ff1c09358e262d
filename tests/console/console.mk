# tests/console: the web console in a real Chromium (Debian's chromium, driven by PyPI playwright).
# axe-core (the accessibility checks the tests inject into each screen) comes from the npm package
# at one pinned version, fetched once with `npm pack` (no install scripts, no dependencies) and
# checked against its pinned SHA-512 before anything is taken from it — as pkg/openapi does with
# Swagger UI. Test-only: nothing of it goes into bollard.
CONSOLE_AXE_VERSION := 4.14.1
# = the registry's integrity sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ==
CONSOLE_AXE_SHA512 := 1477dafa598d8d065f273d6af302aa203c02e83131707b7fa648cd41bd3d6b734f8c22a0dab86ee6a6f64b8afbe804b214d36db85a2826965edfb3a0b9d546b5
CONSOLE_AXE_TGZ := build/downloads/axe-core-$(CONSOLE_AXE_VERSION).tgz
# A path without the version, so the tests need not know it; the stamp says which one is there.
CONSOLE_AXE_DIR := build/tools/axe-core
CONSOLE_AXE_STAMP := $(CONSOLE_AXE_DIR)/.version-$(CONSOLE_AXE_VERSION)
TEST_BINS += $(CONSOLE_AXE_STAMP)

$(CONSOLE_AXE_TGZ):
	@mkdir -p $(@D)
	@command -v npm >/dev/null || { echo "tests/console: npm is needed once to fetch axe-core" \
		"$(CONSOLE_AXE_VERSION) (or place its npm tarball at $@)" >&2; exit 1; }
	cd $(@D) && npm pack --silent --ignore-scripts axe-core@$(CONSOLE_AXE_VERSION) >/dev/null

$(CONSOLE_AXE_STAMP): $(CONSOLE_AXE_TGZ) tests/console/console.mk
	@echo '$(CONSOLE_AXE_SHA512)  $<' | sha512sum --check --quiet --strict - || { \
		echo "tests/console: $< does not match the pinned SHA-512 (delete it to fetch it again)" >&2; exit 1; }
	@rm -rf $(@D) && mkdir -p $(@D)
	tar -xzf $< -C $(@D) --strip-components=1 --no-same-owner package/axe.min.js package/LICENSE
	@touch $@
