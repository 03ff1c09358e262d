# embed: the one generator of the tables of files built into bollard (pkg/embed/embed.h). Users:
# pkg/openapi/openapi.mk (/docs) and pkg/console/console.mk (/). Make expands prerequisites when it
# reads a fragment, and fragments are read in name order, so those files spell the tool's path
# ($(BUILD)/tools/embed) themselves rather than use EMBED_TOOL before it is set.
EMBED_TOOL := $(BUILD)/tools/embed

# A host tool, so no sanitizers. OpenSSL for the digests of hashed names and ETags, zlib for the
# precompressed copies; neither is linked into bollard by this.
$(EMBED_TOOL): pkg/embed/tools/embed.c
	@mkdir -p $(@D)
	$(HOST_CC) -std=gnu11 $(WARN) -O1 $(shell pkg-config --cflags jansson libcrypto zlib) -o $@ $< \
		$(shell pkg-config --libs jansson libcrypto zlib)
