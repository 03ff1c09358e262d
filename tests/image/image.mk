# The runtime image (Dockerfile.distroless) and its tests. See .ci/image/ and tests/image/.
#   make image         build $(IMAGE): docker if an engine answers, else buildah; public bases if
#                      their registries are reachable, else local stand-ins from Debian packages
#   make image-test    build, then test the image with podman (or docker when docker built it)
#                      against throwaway PostgreSQL/Redis on the host network. Part of `make test`.
IMAGE ?= localhost/bollard:$(VERSION)
# Evaluated once: the revision baked into the binary and the label is the one the tests expect.
IMAGE_GIT_REV := $(GIT_REV)
IMAGE_SOURCE ?= $(shell git remote get-url origin 2>/dev/null | sed -E 's#^git@([^:]+):#https://\1/#; s#\.git$$##' || true)
IMAGE_TEST_ARGS ?=
ACTIONLINT_VERSION := v1.7.7
ACTIONLINT := $(TOOLS_BIN)/actionlint

.PHONY: image image-test image-lint
image:
	@VERSION='$(VERSION)' GIT_REV='$(IMAGE_GIT_REV)' SOURCE='$(or $(IMAGE_SOURCE),unknown)' \
		.ci/image/build-image '$(IMAGE)'

# Fails (never skips) when the container tools cannot run: the tests in tests/image are collected
# only when BOLLARD_IMAGE_TEST=1, which this target sets.
image-test: image image-lint
	@.ci/install-deps test
	BOLLARD_IMAGE_TEST=1 BOLLARD_IMAGE='$(IMAGE)' BOLLARD_VERSION='$(VERSION)' BOLLARD_GIT_REV='$(IMAGE_GIT_REV)' \
		python3 -m pytest -q -p no:cacheprovider -rxXs -s tests/image $(IMAGE_TEST_ARGS)

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
