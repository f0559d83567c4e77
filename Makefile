# The two commands of the README: `make run` and `make test`.  Both install what is missing
# (Debian packages through apt-get, the npm test clients), build with meson, then act.
BUILD      ?= build
FUZZ_BUILD ?= build-fuzz
MESON_OPTS ?=
# Seconds each fuzz target runs inside `make test`.
FUZZ_SECONDS ?= 30
ARGS ?=
# The fuzz build: clang, libFuzzer, ASan and UBSan with every report fatal.
FUZZ_SETUP = CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false -Dc_args=-fno-sanitize-recover=all $(MESON_OPTS)

.PHONY: all deps build run test unit fuzz perf clean

all: build

deps:
	@tools/install-deps.sh
	@if [ -f tests/interop/package-lock.json ] && [ ! -d tests/interop/node_modules/kafkajs ]; then \
		cd tests/interop && npm ci --no-audit --no-fund; fi

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_OPTS)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

run: build
	@if [ -x $(BUILD)/dataplane/ringtail ]; then \
		exec $(BUILD)/dataplane/ringtail $(ARGS); \
	else \
		echo "ringtail: the broker is not built yet (dataplane/ is still to come); the libraries and tests built."; \
	fi

$(FUZZ_BUILD)/build.ninja:
	$(FUZZ_SETUP)

# Unit, interop and fault tests from the normal build; then, in the clang ASan/UBSan build, the
# unit tests again (undefined behaviour that gcc's build does not trap: a NULL base to qsort
# showed only there; about 2 more minutes on 2 cores) and every fuzz target for a bounded time.
# One closing line counts every case of all three, a failure named with its build directory.
test: build
	@rc=0; \
	meson test -C $(BUILD) --print-errorlogs --num-processes 2 || rc=1; \
	logs=$(BUILD)/meson-logs/testlog.json; \
	if [ -f tests/fuzz/meson.build ]; then \
		rm -f $(FUZZ_BUILD)/meson-logs/unit.json $(FUZZ_BUILD)/meson-logs/fuzz.json; \
		if { [ -f $(FUZZ_BUILD)/build.ninja ] || $(FUZZ_SETUP); } && ninja -C $(FUZZ_BUILD); then \
			meson test -C $(FUZZ_BUILD) --suite unit --logbase unit --print-errorlogs --num-processes 2 || rc=1; \
			RT_FUZZ_SECONDS=$(FUZZ_SECONDS) meson test -C $(FUZZ_BUILD) --suite fuzz --logbase fuzz --print-errorlogs || rc=1; \
		else \
			echo "make test: the ASan/UBSan build ($(FUZZ_BUILD)) failed: its tests did not run"; rc=1; \
		fi; \
		logs="$$logs $(FUZZ_BUILD)/meson-logs/unit.json $(FUZZ_BUILD)/meson-logs/fuzz.json"; \
	fi; \
	python3 tools/test_summary.py $$logs || rc=1; \
	exit $$rc

perf: build
	@if [ -x perf/run.sh ]; then perf/run.sh $(BUILD); else echo "perf: the harness is not built yet"; fi

clean:
	rm -rf $(BUILD) $(FUZZ_BUILD)
