# openapi: /openapi.json and the /docs page, built into bollard (pkg/openapi/README.md).
# pkg/embed's generator (pkg/embed/embed.mk) turns the hand-written pkg/openapi/openapi.json, the
# page's own files (pkg/openapi/docs/) and Swagger UI's files into one generated C table.
#
# Swagger UI comes from the npm package swagger-ui-dist at one pinned version, fetched with
# `npm pack` (no install scripts, no dependencies) and checked against its pinned SHA-512 before
# anything is taken from it. Debian has no Swagger UI that renders OpenAPI 3.1 (README.md).
OPENAPI_SWAGGER_UI_VERSION := 5.35.0
# = the registry's integrity sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3sU8yVUQ==
OPENAPI_SWAGGER_UI_SHA512 := 534eaba4cb56f55dd73c638179a993512af4674f63317e0826e00da44fc465b021c341bc0a0c2bcd4e18997927fe1d3008336c5dd19aad334d1c2dec53cc9551
# Outside build/ on purpose: `make clean` keeps the download, and the image build context (which
# leaves build/ out) carries it, so the image build needs no npm. Ignored by pkg/openapi/.gitignore.
OPENAPI_DOWNLOADS ?= pkg/openapi/downloads
OPENAPI_SWAGGER_UI_TGZ := $(OPENAPI_DOWNLOADS)/swagger-ui-dist-$(OPENAPI_SWAGGER_UI_VERSION).tgz
# The files of the package the page uses, and its licence texts (Apache-2.0 asks for them to go
# along). The package's own index.html and initializer are not used: they load a public demo URL.
OPENAPI_SWAGGER_UI_FILES := swagger-ui-bundle.js swagger-ui.css favicon-32x32.png favicon-16x16.png \
	swagger-ui-bundle.js.LICENSE.txt LICENSE NOTICE
OPENAPI_SWAGGER_UI_DIR := $(BUILD)/gen/openapi/swagger-ui-dist-$(OPENAPI_SWAGGER_UI_VERSION)
OPENAPI_SWAGGER_UI_STAMP := $(OPENAPI_SWAGGER_UI_DIR)/.extracted

OPENAPI_DOCUMENT := pkg/openapi/openapi.json
OPENAPI_PAGE_FILES := $(sort $(wildcard pkg/openapi/docs/*))
OPENAPI_EMBED := $(BUILD)/tools/embed
OPENAPI_LIST := $(BUILD)/gen/openapi_assets.list
OPENAPI_C := $(BUILD)/gen/openapi_assets.c
OPENAPI_OBJ := $(BUILD)/obj/gen/openapi_assets.o
BOLLARD_EXTRA_OBJS += $(OPENAPI_OBJ)

# NAME=FILE arguments of the generator: the page's files under their own names, Swagger UI's
# under theirs, its licence texts renamed so that their extension gives them a content type.
OPENAPI_EMBED_ARGS := $(foreach f,$(OPENAPI_PAGE_FILES),$(notdir $(f))=$(f)) \
	$(foreach f,swagger-ui-bundle.js swagger-ui.css favicon-32x32.png favicon-16x16.png \
		swagger-ui-bundle.js.LICENSE.txt,$(f)=$(OPENAPI_SWAGGER_UI_DIR)/$(f)) \
	swagger-ui-LICENSE.txt=$(OPENAPI_SWAGGER_UI_DIR)/LICENSE \
	swagger-ui-NOTICE.txt=$(OPENAPI_SWAGGER_UI_DIR)/NOTICE

# Only when missing: a pinned version never changes, and an offline build can be handed the file.
$(OPENAPI_SWAGGER_UI_TGZ):
	@mkdir -p $(@D)
	@command -v npm >/dev/null || { echo "openapi: npm is needed once to fetch swagger-ui-dist" \
		"$(OPENAPI_SWAGGER_UI_VERSION) (or place its npm tarball at $@)" >&2; exit 1; }
	cd $(@D) && npm pack --silent --ignore-scripts swagger-ui-dist@$(OPENAPI_SWAGGER_UI_VERSION) >/dev/null

# Checked every time it is unpacked, so a corrupted or swapped download never reaches the binary.
$(OPENAPI_SWAGGER_UI_STAMP): $(OPENAPI_SWAGGER_UI_TGZ) pkg/openapi/openapi.mk
	@echo '$(OPENAPI_SWAGGER_UI_SHA512)  $<' | sha512sum --check --quiet --strict - || { \
		echo "openapi: $< does not match the pinned SHA-512 (delete it to fetch it again)" >&2; exit 1; }
	@rm -rf $(@D) && mkdir -p $(@D)
	tar -xzf $< -C $(@D) --strip-components=1 --no-same-owner $(addprefix package/,$(OPENAPI_SWAGGER_UI_FILES))
	@touch $@

# Changes only when the set of page files changes, so a deleted one also regenerates the table.
$(OPENAPI_LIST): FORCE
	@mkdir -p $(@D)
	@echo '$(OPENAPI_EMBED_ARGS)' | cmp -s - $@ || echo '$(OPENAPI_EMBED_ARGS)' > $@

# --version: the document's info.version must be the repository's VERSION (one version everywhere).
$(OPENAPI_C): $(OPENAPI_EMBED) $(OPENAPI_DOCUMENT) $(OPENAPI_PAGE_FILES) $(OPENAPI_SWAGGER_UI_STAMP) $(OPENAPI_LIST) VERSION
	@mkdir -p $(@D)
	$(OPENAPI_EMBED) $@ openapi_files --require index.html --require openapi.json --version=$(VERSION) \
		--openapi openapi.json=$(OPENAPI_DOCUMENT) \
		$(OPENAPI_EMBED_ARGS)

$(OPENAPI_OBJ): $(OPENAPI_C) pkg/embed/embed.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

# `make image` copies the source tree into the build container: fetch (and check) first, so the
# container finds the download there and needs neither npm nor the registry.
image: $(OPENAPI_SWAGGER_UI_STAMP)
