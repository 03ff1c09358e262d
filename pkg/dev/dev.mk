# pkg/dev: `bollard dev` starts the API itself, and server_run() labels /metrics with the build's
# version and revision, so dev.c sees them as main.c does (it is small; recompiling it per commit is
# cheap).
$(BUILD)/obj/pkg/dev/dev.o: EXTRA_CFLAGS += -DBOLLARD_VERSION='"$(VERSION)"' -DBOLLARD_GIT_REV='"$(GIT_REV)"'
$(BUILD)/obj/pkg/dev/dev.o: .git-rev-stamp
