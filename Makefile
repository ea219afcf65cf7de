# callsync - one GNU Makefile. `make help` lists the targets.
#
#   make            build every binary into bin/
#   make test       install missing Debian packages, build, run unit + integration tests
#   make run        install, build, start Redis + the services locally, print the URLs
#   make bench      webhook ingest benchmark (results go to BENCHMARKS.md by hand)
#   make lint       clang-format check and banned calls
#   make SANITIZE=address,undefined test   the same suite under ASan/UBSan

CC ?= cc
SANITIZE ?=
comma := ,
VARIANT := $(if $(SANITIZE),san-$(subst $(comma),-,$(SANITIZE)),rel)
OBJ := build/$(VARIANT)

PKGS := libczmq libzmq hiredis jansson libmicrohttpd libsodium libcurl libjwt libwebsockets libuv
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# GStreamer (webrtcbin) is the sim's far-end media; only the sim and the
# unit tests link it.
MEDIA_PKGS := gstreamer-1.0 gstreamer-sdp-1.0 gstreamer-webrtc-1.0
MEDIA_CFLAGS = $(shell pkg-config --cflags-only-I $(MEDIA_PKGS) 2>/dev/null | sed 's/-I/-isystem /g')
MEDIA_LIBS = $(shell pkg-config --libs $(MEDIA_PKGS) 2>/dev/null)
sim_LIBS = $(MEDIA_LIBS)

CFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -O2 -g \
          -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-missing-field-initializers \
          -Icommon $(PKG_CFLAGS) $(MEDIA_CFLAGS)
LDLIBS = $(PKG_LIBS) -lpthread -lm
ifneq ($(SANITIZE),)
CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all -O1
LDFLAGS += -fsanitize=$(SANITIZE)
endif

# Relink everything when the variant changes, so bin/ always matches it.
$(shell mkdir -p build; [ "`cat build/variant 2>/dev/null`" = "$(VARIANT)" ] || echo $(VARIANT) > build/variant)

COMMON_SRC := $(wildcard common/*.c)
COMMON_OBJ := $(COMMON_SRC:%.c=$(OBJ)/%.o)
LIBCOMMON := $(OBJ)/libcommon.a

SERVICES := $(patsubst services/%/main.c,%,$(wildcard services/*/main.c))
BINS := $(SERVICES:%=bin/callsync-%)

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRC:tests/unit/%.c=$(OBJ)/tests/%)
INTEG_SRC := $(wildcard tests/integration/test_*.c)
INTEG_BINS := $(INTEG_SRC:tests/integration/%.c=$(OBJ)/tests/%)
TESTLIB_OBJ := $(patsubst %.c,$(OBJ)/%.o,$(wildcard tests/lib/*.c))

.PHONY: all deps test unit integration conformance web browser fuzz run stop bench lint format clean help
all: $(BINS)

help:
	@sed -n '1,12p' Makefile

deps:
	@scripts/deps.sh

$(OBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIBCOMMON): $(COMMON_OBJ)
	ar rcs $@ $^

# A service is every .c in its folder; main.c is left out of its tests.
define service
$(1)_SRC := $$(wildcard services/$(1)/*.c)
$(1)_OBJ := $$($(1)_SRC:%.c=$(OBJ)/%.o)
bin/callsync-$(1): $$($(1)_OBJ) $(LIBCOMMON) build/variant
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $$@ $$($(1)_OBJ) $(LIBCOMMON) $(LDLIBS) $$($(1)_LIBS)
endef
$(foreach s,$(SERVICES),$(eval $(call service,$(s))))

# The sim's /phone page is built into it (services/sim/phone.c, .incbin).
$(OBJ)/services/sim/phone.o: services/sim/phone.html

# Unit tests link every service module but the mains.
SERVICE_LIB_OBJ := $(patsubst %.c,$(OBJ)/%.o,$(filter-out %/main.c,$(wildcard services/*/*.c)))
SERVICE_INC := $(addprefix -I,$(wildcard services/*))

$(OBJ)/tests/%: tests/unit/%.c $(SERVICE_LIB_OBJ) $(LIBCOMMON) build/variant
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SERVICE_INC) $(LDFLAGS) -o $@ $< $(SERVICE_LIB_OBJ) $(LIBCOMMON) $(LDLIBS) $(MEDIA_LIBS) -lcmocka

$(OBJ)/tests/%: tests/integration/%.c $(TESTLIB_OBJ) $(LIBCOMMON) build/variant
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/lib $(LDFLAGS) -o $@ $< $(TESTLIB_OBJ) $(LIBCOMMON) $(LDLIBS) -lcmocka

unit: $(UNIT_BINS)
	@scripts/run-tests.sh $(UNIT_BINS)

integration: $(BINS) $(INTEG_BINS)
	@scripts/run-tests.sh $(INTEG_BINS)

# The sim driven by Telnyx's official Node SDK (tests/conformance).
conformance: bin/callsync-sim
	@cd tests/conformance && npm ci --no-audit --no-fund --loglevel=error && npm test

# The softphone (web/): its logic's unit tests, then the esbuild bundle the
# relay serves from web/dist.
web:
	@cd web && npm ci --no-audit --no-fund --loglevel=error && npm test && npm run build

# The real @telnyx/webrtc SDK in Debian's chromium (playwright-core), in a
# network namespace with only loopback (scripts/netns.sh).
browser: all web
	@cd tests/browser && npm ci --no-audit --no-fund --loglevel=error && ../../scripts/netns.sh npm test

test: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory unit integration conformance web browser
	@$(MAKE) --no-print-directory fuzz

run: deps
	@$(MAKE) --no-print-directory all web
	@scripts/run.sh

stop:
	@scripts/run.sh stop

BENCH_BINS := $(OBJ)/bench/loadgen $(OBJ)/bench/simload $(OBJ)/bench/orchload $(OBJ)/bench/wirelat \
  $(OBJ)/bench/openloop $(OBJ)/bench/agentstorm
$(OBJ)/bench/%: bench/%.c $(LIBCOMMON) build/variant
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iservices/ingestor $(LDFLAGS) -o $@ $< $(LIBCOMMON) $(LDLIBS)
# reads captures: libpcap only
$(OBJ)/bench/wirelat: bench/wirelat.c build/variant
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< -lpcap
# reads answers with libhttp-parser only
$(OBJ)/bench/openloop: bench/openloop.c build/variant
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< -lhttp_parser -lm

bench: deps
	@$(MAKE) --no-print-directory all $(BENCH_BINS)
	@scripts/bench.sh $(OBJ)/bench/loadgen $(OBJ)/bench/simload $(OBJ)/bench/orchload

# libFuzzer targets, one per parser of untrusted input, built with clang.
# `make fuzz` runs each for FUZZ_RUNS inputs from its seed corpus (make test
# does a short run); FUZZ_RUNS=-1 with FUZZ_SECONDS=N fuzzes for N seconds.
FUZZ_RUNS ?= 20000
FUZZ_SECONDS ?= 0
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_SRC := $(COMMON_SRC) services/ingestor/verify.c services/relay/token.c services/relay/wsmsg.c \
            $(filter-out %/main.c,$(wildcard services/sim/*.c))
build/fuzz/%: tests/fuzz/%.c $(FUZZ_SRC)
	@mkdir -p build/fuzz
	clang -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -g -O1 \
	  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Icommon -Iservices/ingestor \
	  -Iservices/sim -Iservices/relay $(PKG_CFLAGS) $(MEDIA_CFLAGS) -o $@ $< $(FUZZ_SRC) $(LDLIBS) $(MEDIA_LIBS)

fuzz: $(FUZZ_TARGETS)
	@for t in $(FUZZ_TARGETS); do \
	  name=$${t##*/fuzz_}; mkdir -p build/fuzz/corpus-$$name; \
	  echo "== $$t"; \
	  $$t -runs=$(FUZZ_RUNS) -max_total_time=$(FUZZ_SECONDS) -max_len=8192 \
	    build/fuzz/corpus-$$name tests/fuzz/corpus/$$name 2>&1 | tail -n 2 || exit 1; \
	done

C_FILES = $(shell git ls-files --cached --others --exclude-standard '*.c' '*.h')
lint:
	@clang-format --dry-run -Werror $(C_FILES)
	@! grep -nE '\b(sprintf|vsprintf|strcpy|strcat|atoi|gets)\s*\(' $(C_FILES) \
	  || (echo "lint: banned call above" >&2; exit 1)
	@scripts/check-deploy.sh
	@echo "lint: ok"

format:
	clang-format -i $(C_FILES)

clean:
	rm -rf build bin

.SECONDARY:

-include $(shell find build -name '*.d' 2>/dev/null)
