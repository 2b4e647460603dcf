# runcell - build, run and test.  Plain make; dependencies via pkg-config.
#
#   make          build build/runcell
#   make deps     install missing Debian packages (apt-get)
#   make run      deps + build + start the server with examples/runcell.yaml
#   make test     deps + every test suite; last line "N passed, N failed"
#   make bench    the launch benchmark (bench/)

CC      ?= cc
PKGS    := libmicrohttpd jansson yaml-0.1 sqlite3 libseccomp libsodium libcurl
WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wno-unused-parameter
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE $(WARN) $(EXTRA_CFLAGS) \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread
BUILD   ?= build

ifeq ($(WERROR),1)
CFLAGS  += -Werror
endif

SRCS     := $(sort $(wildcard src/*.c src/exec/*.c src/store/*.c))
LIB_SRCS := $(filter-out src/main.c,$(SRCS))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/ui_files.o
UI_FILES := $(sort $(wildcard src/ui/*))
UNIT_SRCS  := $(sort $(wildcard tests/unit/test_*.c))
UNIT_TESTS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/%)
HELPERS    := $(patsubst tests/helpers/%.c,$(BUILD)/%,$(wildcard tests/helpers/*.c))

.PHONY: all deps run test unit blackbox bench clean

all: $(BUILD)/runcell $(HELPERS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# The web UI, compiled into the binary (see docs/ui.md).
$(BUILD)/gen/ui_files.c: $(UI_FILES) scripts/embed-ui.sh
	@mkdir -p $(dir $@)
	./scripts/embed-ui.sh $@ $(UI_FILES)

$(BUILD)/obj/gen/ui_files.o: $(BUILD)/gen/ui_files.c src/web.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Isrc -c $< -o $@

$(BUILD)/runcell: $(BUILD)/obj/src/main.o $(LIB_OBJS)
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/test_%: tests/unit/test_%.c $(LIB_OBJS)
	$(CC) $(CFLAGS) -Isrc $< $(LIB_OBJS) -o $@ $(LDLIBS) -lcmocka

# Small programs the tests run inside cells (static where it helps).
$(BUILD)/%: tests/helpers/%.c
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) $< -o $@

deps:
	@./scripts/deps.sh

run: deps all
	./scripts/run.sh

unit: all $(UNIT_TESTS)
	@./tests/run_unit.sh $(UNIT_TESTS)

test: deps
	@$(MAKE) --no-print-directory all $(UNIT_TESTS) WERROR=1
	@./tests/run_all.sh

bench: deps all
	@./bench/run.sh

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
