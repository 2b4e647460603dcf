# runcell - build, run and test.  Plain make; dependencies via pkg-config.
#
#   make          build build/runcell (and build/runcell-launcher)
#   make deps     install missing Debian packages (apt-get)
#   make run      deps + build + start the server with examples/runcell.yaml
#   make test     deps + every test suite; last line "N passed, N failed"
#   make bench    the launch benchmark (bench/)
#   make asan     build-asan/: the service and unit tests with ASan+UBSan
#   make fuzz     the libFuzzer targets (FUZZ_TIME=600 make fuzz for long runs)
#   make lint     cppcheck + clang-tidy on src/
#   make format-check  whether src/ matches .clang-format
#   (see docs/hardening.md)
#   make loadtest the load and fault test (loadtest/, docs/loadtest.md)

CC      ?= cc
PKGS    := libmicrohttpd jansson yaml-0.1 sqlite3 libseccomp libsodium libcurl \
           libpq
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
LIB_SRCS := $(filter-out src/main.c src/exec/launcher_main.c,$(SRCS))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/ui_files.o
UI_FILES := $(sort $(wildcard src/ui/*))
UNIT_SRCS  := $(sort $(wildcard tests/unit/test_*.c))
UNIT_TESTS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/%)
HELPERS    := $(patsubst tests/helpers/%.c,$(BUILD)/%,$(wildcard tests/helpers/*.c))

# The launcher's lean executable (src/exec/launcher.c): only the code the
# launcher, supervisors and cells run, and only jansson and libseccomp.
LAUNCHER_SRCS := src/exec/launcher_main.c src/exec/launcher.c \
                 src/exec/supervisor.c src/exec/spawn.c src/exec/sig.c \
                 $(wildcard src/exec/cell*.c src/exec/cgroup*.c) \
                 src/exec/seccomp.c src/util.c src/log.c src/names.c
LAUNCHER_LIBS := $(shell pkg-config --libs jansson libseccomp 2>/dev/null)

.PHONY: all deps run test unit blackbox bench loadtest clean

all: $(BUILD)/runcell $(BUILD)/runcell-launcher $(HELPERS)

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

$(BUILD)/runcell-launcher: $(LAUNCHER_SRCS:%.c=$(BUILD)/obj/%.o)
	$(CC) $(CFLAGS) $^ -o $@ $(LAUNCHER_LIBS)

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

test:
	@./scripts/deps.sh test
	@$(MAKE) --no-print-directory all $(UNIT_TESTS) WERROR=1
	@./tests/run_all.sh

bench: deps all
	@./bench/run.sh

loadtest: deps all
	./loadtest/run.sh

clean:
	rm -rf $(BUILD) build-asan build-fuzz

# ---- hardening: sanitizers, fuzzing, static analysis (docs/hardening.md)

SAN_CC    ?= clang
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer \
             -fno-sanitize-recover=all
HELPER_SRCS := $(wildcard tests/helpers/*.c)

# The service and every unit test with AddressSanitizer (and LeakSanitizer)
# and UBSan.  The helper programs that run inside cells are built without
# sanitizers: they are test tools, and a cell's limits (memory, seccomp)
# are not made for the sanitizer runtime.
asan:
	@$(MAKE) --no-print-directory BUILD=build-asan CC=$(SAN_CC) WERROR=1 \
		EXTRA_CFLAGS="-O1 $(SAN_FLAGS)" build-asan/runcell \
		$(UNIT_SRCS:tests/unit/%.c=build-asan/%)
	@$(MAKE) --no-print-directory BUILD=build-asan WERROR=1 \
		$(HELPER_SRCS:tests/helpers/%.c=build-asan/%)

# libFuzzer targets: fuzz/fuzz_*.c linked against the library objects
# built with coverage, ASan and UBSan into build-fuzz/.
FUZZ_SRCS    := $(sort $(wildcard fuzz/fuzz_*.c))
FUZZ_TARGETS := $(FUZZ_SRCS:fuzz/%.c=%)
FUZZ_TIME    ?= 60
FUZZ_FLAGS   := -fsanitize=fuzzer-no-link,address,undefined \
                -fno-sanitize-recover=all -fno-omit-frame-pointer

fuzz-build:
	@$(MAKE) --no-print-directory BUILD=build-fuzz CC=clang \
		EXTRA_CFLAGS="-O1 $(FUZZ_FLAGS)" \
		$(FUZZ_TARGETS:%=build-fuzz/%)

# fuzz_sse.c includes src/sse.c to reach its static framing functions and
# replaces the events module with a scripted one.
FUZZ_OBJS = $(filter-out $(BUILD)/obj/src/sse.o $(BUILD)/obj/src/events.o,\
              $(LIB_OBJS))

$(BUILD)/fuzz_sse: fuzz/fuzz_sse.c fuzz/fuzz_common.h src/sse.c $(FUZZ_OBJS)
	$(CC) $(CFLAGS) -fsanitize=fuzzer -Isrc $< $(FUZZ_OBJS) -o $@ $(LDLIBS)

$(BUILD)/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz_common.h $(LIB_OBJS)
	$(CC) $(CFLAGS) -fsanitize=fuzzer -Isrc $< $(LIB_OBJS) -o $@ $(LDLIBS)

# Each target for FUZZ_TIME seconds from its checked-in seeds, after
# replaying its regression inputs.  New inputs go to build-fuzz/corpus/.
fuzz: fuzz-build
	@./fuzz/run.sh $(FUZZ_TIME) $(FUZZ_TARGETS)

# Static analysis: configuration in .clang-tidy and .cppcheck-suppressions.
LINT_SRCS := $(sort $(wildcard src/*.c src/exec/*.c src/store/*.c))

lint:
	@LINT_CFLAGS="$(CFLAGS)" ./scripts/lint.sh $(LINT_SRCS)

FORMAT_SRCS := $(LINT_SRCS) $(wildcard src/*.h src/exec/*.h src/store/*.h \
	tests/unit/*.c tests/helpers/*.c fuzz/*.c fuzz/*.h bench/*.c)

format-check:
	@clang-format --dry-run --Werror $(FORMAT_SRCS) && \
		echo "format: clean ($(words $(FORMAT_SRCS)) files)"

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
