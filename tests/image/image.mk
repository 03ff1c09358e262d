# The runtime image (Dockerfile.distroless) and its tests. See .ci/image/ and tests/image/.
#   make image         build $(IMAGE): docker if an engine answers, else buildah; public bases if
#                      their registries are reachable, else local stand-ins from Debian packages.
#                      This machine's platform only, unless IMAGE_PLATFORMS lists several
#                      (linux/amd64,linux/arm64): then $(IMAGE) is one manifest list of
#                      $(IMAGE)-<arch> images, the foreign ones cross-compiled.
#   make image-test    build the manifest list of IMAGE_TEST_PLATFORMS, then test it with podman
#                      (or docker when docker built it) against throwaway PostgreSQL/Redis on the
#                      host network: the whole suite on this machine's arch, structure + smoke tests
#                      on the other (under qemu). Part of `make test`.
#   make image-test-all  the same, with the whole suite on every arch (the foreign one under qemu).
IMAGE ?= localhost/bollard:$(VERSION)
IMAGE_PLATFORMS ?=
IMAGE_TEST_PLATFORMS ?= linux/amd64,linux/arm64
# Evaluated once: the revision baked into the binary and the label is the one the tests expect.
IMAGE_GIT_REV := $(GIT_REV)
IMAGE_SOURCE ?= $(shell git remote get-url origin 2>/dev/null | sed -E 's#^git@([^:]+):#https://\1/#; s#\.git$$##' || true)
IMAGE_TEST_ARGS ?=
ACTIONLINT_VERSION := v1.7.7
ACTIONLINT := $(TOOLS_BIN)/actionlint

IMAGE_BUILD = VERSION='$(VERSION)' GIT_REV='$(IMAGE_GIT_REV)' SOURCE='$(or $(IMAGE_SOURCE),unknown)' \
	.ci/image/build-image '$(IMAGE)'
IMAGE_TEST = BOLLARD_VERSION='$(VERSION)' BOLLARD_GIT_REV='$(IMAGE_GIT_REV)' IMAGE_TEST_ARGS='$(IMAGE_TEST_ARGS)' \
	.ci/image/test-image '$(IMAGE)'

.PHONY: image image-test image-test-all image-lint
image:
	@IMAGE_PLATFORMS='$(IMAGE_PLATFORMS)' $(IMAGE_BUILD)

# Fails (never skips) when the container tools cannot run: the tests in tests/image are collected
# only when BOLLARD_IMAGE_TEST=1, which .ci/image/test-image sets. A foreign arch where qemu cannot
# be registered gets its structure tests, and its tests that start the image are skips that say so.
image-test: image-lint
	@.ci/install-deps test
	@IMAGE_PLATFORMS='$(IMAGE_TEST_PLATFORMS)' $(IMAGE_BUILD)
	@IMAGE_PLATFORMS='$(IMAGE_TEST_PLATFORMS)' $(IMAGE_TEST) quick

image-test-all: image-lint
	@.ci/install-deps test
	@IMAGE_PLATFORMS='$(IMAGE_TEST_PLATFORMS)' $(IMAGE_BUILD)
	@IMAGE_PLATFORMS='$(IMAGE_TEST_PLATFORMS)' $(IMAGE_TEST) full

TEST_TARGETS += image-test

# The workflows (.github/workflows, incl. image.yml which builds/scans the image where a registry
# is reachable) cannot run here; actionlint keeps them correct. Installed from the Go module proxy.
image-lint: $(ACTIONLINT)
	$(ACTIONLINT) .github/workflows/*.yml

$(ACTIONLINT): FORCE
	@if ! "$@" -version 2>/dev/null | grep -q '^$(ACTIONLINT_VERSION)$$'; then \
		echo "installing actionlint $(ACTIONLINT_VERSION) into $(TOOLS_BIN) (go install)"; \
		mkdir -p $(TOOLS_BIN) && GOBIN=$(TOOLS_BIN) $(or $(GO),$(shell command -v go 2>/dev/null),/usr/local/go/bin/go) install \
			github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION); \
	fi
