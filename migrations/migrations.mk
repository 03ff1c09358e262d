# migrations: migrations/*.sql are embedded into bollard at build time (the image carries no
# migration files). migrations/embed.c validates each file (name, kind header, unique version) and
# writes a C table; a malformed migration fails the build. See migrations/README.md.

MIGRATIONS_SQL := $(sort $(wildcard migrations/*.sql))
MIGRATIONS_EMBED := $(BUILD)/tools/embed-migrations
MIGRATIONS_LIST := $(BUILD)/gen/migrations.list
MIGRATIONS_C := $(BUILD)/gen/migrations.c
MIGRATIONS_OBJ := $(BUILD)/obj/gen/migrations.o
BOLLARD_EXTRA_OBJS += $(MIGRATIONS_OBJ)

# A host tool, so no sanitizers: it only has to be correct for the files in this repository.
$(MIGRATIONS_EMBED): migrations/embed.c pkg/schema/parse.c pkg/schema/schema.h pkg/base/base.c pkg/base/base.h
	@mkdir -p $(@D)
	$(HOST_CC) -std=gnu11 $(WARN) -O1 -Ipkg -o $@ migrations/embed.c pkg/schema/parse.c pkg/base/base.c -lcrypto

# Changes only when the set of files changes, so a deleted migration also regenerates the table.
$(MIGRATIONS_LIST): FORCE
	@mkdir -p $(@D)
	@echo '$(MIGRATIONS_SQL)' | cmp -s - $@ || echo '$(MIGRATIONS_SQL)' > $@

$(MIGRATIONS_C): $(MIGRATIONS_EMBED) $(MIGRATIONS_SQL) $(MIGRATIONS_LIST)
	@mkdir -p $(@D)
	$(MIGRATIONS_EMBED) $@ $(MIGRATIONS_SQL)

$(MIGRATIONS_OBJ): $(MIGRATIONS_C) pkg/schema/embedded.h pkg/schema/schema.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

# ---- The SQLite twin set (migrations/sqlite/, `bollard dev`; see migrations/sqlite/README.md),
# embedded the same way as migrate_sqlite_migrations[]. Every PostgreSQL migration needs its SQLite
# twin under the same file name (so the same version and name; the dev runner also compares the
# kind), otherwise dev-mode readiness would judge the SQLite schema by the wrong level: the build
# fails naming the missing or extra files.
MIGRATIONS_SQLITE_SQL := $(sort $(wildcard migrations/sqlite/*.sql))
MIGRATIONS_SQLITE_LIST := $(BUILD)/gen/migrations_sqlite.list
MIGRATIONS_SQLITE_C := $(BUILD)/gen/migrations_sqlite.c
MIGRATIONS_SQLITE_OBJ := $(BUILD)/obj/gen/migrations_sqlite.o
BOLLARD_EXTRA_OBJS += $(MIGRATIONS_SQLITE_OBJ)
MIGRATIONS_SQLITE_MISSING := $(filter-out $(notdir $(MIGRATIONS_SQLITE_SQL)),$(notdir $(MIGRATIONS_SQL)))
MIGRATIONS_SQLITE_EXTRA := $(filter-out $(notdir $(MIGRATIONS_SQL)),$(notdir $(MIGRATIONS_SQLITE_SQL)))

$(MIGRATIONS_SQLITE_LIST): FORCE
	@mkdir -p $(@D)
	@echo '$(MIGRATIONS_SQL) $(MIGRATIONS_SQLITE_SQL)' | cmp -s - $@ || echo '$(MIGRATIONS_SQL) $(MIGRATIONS_SQLITE_SQL)' > $@

$(MIGRATIONS_SQLITE_C): $(MIGRATIONS_EMBED) $(MIGRATIONS_SQLITE_SQL) $(MIGRATIONS_SQLITE_LIST)
	@if [ -n '$(strip $(MIGRATIONS_SQLITE_MISSING) $(MIGRATIONS_SQLITE_EXTRA))' ]; then \
		echo 'migrations/sqlite must mirror migrations/ file for file (bollard dev);' \
			'missing: $(or $(MIGRATIONS_SQLITE_MISSING),none); extra: $(or $(MIGRATIONS_SQLITE_EXTRA),none)' >&2; \
		exit 1; fi
	@mkdir -p $(@D)
	$(MIGRATIONS_EMBED) --prefix migrate_sqlite --header migrate/sqlite_embedded.h $@ $(MIGRATIONS_SQLITE_SQL)

$(MIGRATIONS_SQLITE_OBJ): $(MIGRATIONS_SQLITE_C) pkg/migrate/sqlite_embedded.h pkg/schema/schema.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

# ---- Test fixtures: bollard built with other migration sets (tests/migrate, tests/rollout). Test
# binaries, so `make test-bins` builds them, not `make`. Fixture migrations are numbered 9001+ so
# that they stay above every real one.
MIGRATE_FIXTURE_SRC := tests/migrate/fixtures
MIGRATE_FIXTURE_expand := $(MIGRATIONS_SQL) $(MIGRATE_FIXTURE_SRC)/9001_fixture_widgets.sql
MIGRATE_FIXTURE_contract := $(MIGRATE_FIXTURE_expand) $(MIGRATE_FIXTURE_SRC)/9002_fixture_widgets_drop_note.sql
MIGRATE_FIXTURE_contract_expand := $(MIGRATE_FIXTURE_contract) $(MIGRATE_FIXTURE_SRC)/9003_fixture_widgets_color.sql
MIGRATE_FIXTURE_failing := $(MIGRATIONS_SQL) $(MIGRATE_FIXTURE_SRC)/failing/9001_fixture_widgets.sql
MIGRATE_FIXTURE_slow := $(MIGRATIONS_SQL) $(MIGRATE_FIXTURE_SRC)/slow/9001_fixture_widgets.sql
# The real set with its first migration edited after the fact (a comment appended).
MIGRATE_FIXTURE_edited := $(BUILD)/fixtures/edited/$(notdir $(firstword $(MIGRATIONS_SQL))) \
	$(wordlist 2,$(words $(MIGRATIONS_SQL)),$(MIGRATIONS_SQL))
MIGRATE_FIXTURES := expand contract contract_expand failing slow edited

$(BUILD)/fixtures/edited/%.sql: migrations/%.sql
	@mkdir -p $(@D)
	{ cat $<; echo '-- edited after it was applied (test fixture)'; } > $@

# The fixture links bollard's own objects with another migration table; it depends on bollard so
# that every object of BOLLARD_EXTRA_OBJS (also those added by later fragments) exists.
define MIGRATE_FIXTURE_RULES
$(BUILD)/fixtures/gen/migrations_$(1).c: $(MIGRATIONS_EMBED) $(MIGRATE_FIXTURE_$(1)) $(MIGRATIONS_LIST)
	@mkdir -p $$(@D)
	$(MIGRATIONS_EMBED) $$@ $(MIGRATE_FIXTURE_$(1))
$(BUILD)/fixtures/obj/migrations_$(1).o: $(BUILD)/fixtures/gen/migrations_$(1).c pkg/schema/embedded.h
	@mkdir -p $$(@D)
	$$(CC) $$(CFLAGS_ALL) -c $$< -o $$@
$(BUILD)/fixtures/bollard-$(1): $(BUILD)/fixtures/obj/migrations_$(1).o $(BUILD)/bollard
	$$(CC) $$(LDFLAGS_ALL) -o $$@ $(BUILD)/obj/cmd/bollard/main.o $$< \
		$$(filter-out $(MIGRATIONS_OBJ),$$(BOLLARD_EXTRA_OBJS)) $$(LIBBOLLARD) $$(LIBS)
TEST_BINS += $(BUILD)/fixtures/bollard-$(1)
endef
$(foreach f,$(MIGRATE_FIXTURES),$(eval $(call MIGRATE_FIXTURE_RULES,$(f))))
