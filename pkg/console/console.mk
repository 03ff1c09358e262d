# console: the web console at / (pkg/console/README.md), built into bollard. Its files
# (pkg/console/web/) are plain HTML, CSS and JavaScript — no framework, no bundler, no npm at build
# time — embedded by pkg/embed's one generator: the scripts, styles and icon under names carrying
# their digest (cached for a year), index.html with those names filled in, every text file also
# gzip-compressed at build time.
# $(BUILD)/tools/embed is pkg/embed/embed.mk's EMBED_TOOL, read after this file (see there).
CONSOLE_WEB := pkg/console/web
CONSOLE_HASHED := $(filter-out $(CONSOLE_WEB)/index.html,$(sort $(wildcard $(CONSOLE_WEB)/*)))
CONSOLE_C := $(BUILD)/gen/console_assets.c
CONSOLE_OBJ := $(BUILD)/obj/gen/console_assets.o
CONSOLE_LIST := $(BUILD)/gen/console_assets.list
CONSOLE_EMBED_ARGS := --gzip --require index.html --template index.html=$(CONSOLE_WEB)/index.html \
	$(foreach f,$(CONSOLE_HASHED),--hashed $(notdir $(f))=$(f))
BOLLARD_EXTRA_OBJS += $(CONSOLE_OBJ)

# Changes only when the set of files changes, so a deleted one also regenerates the table.
$(CONSOLE_LIST): FORCE
	@mkdir -p $(@D)
	@echo '$(CONSOLE_EMBED_ARGS)' | cmp -s - $@ || echo '$(CONSOLE_EMBED_ARGS)' > $@

$(CONSOLE_C): $(BUILD)/tools/embed $(CONSOLE_WEB)/index.html $(CONSOLE_HASHED) $(CONSOLE_LIST)
	@mkdir -p $(@D)
	$(BUILD)/tools/embed $@ console_files $(CONSOLE_EMBED_ARGS)

$(CONSOLE_OBJ): $(CONSOLE_C) pkg/embed/embed.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

# Its unit test inflates the precompressed copies to compare them with the files.
$(BUILD)/tests/test_console: TEST_LIBS += $(shell pkg-config --libs zlib)
