# tests/dev: `bollard dev` black-box tests, and store-driver, which runs pkg/store calls read as JSON
# lines against either back end so that test_store_parity.py can compare SQLite with PostgreSQL call
# by call. A test binary (built by `make test-bins`, not `make`). It links bollard's own objects;
# depending on bollard makes sure all of BOLLARD_EXTRA_OBJS (also those added by fragments included
# after this one) exist.
DEV_STORE_DRIVER := $(BUILD)/dev-tests/store-driver

$(DEV_STORE_DRIVER): $(BUILD)/obj/tests/dev/store_driver.o $(BUILD)/bollard
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_ALL) -o $@ $< $(BOLLARD_EXTRA_OBJS) $(LIBBOLLARD) $(LIBS)

TEST_BINS += $(DEV_STORE_DRIVER)
