# sockswap — see README.md. `make` builds, `make test` runs every test, `make bench` measures.
PREFIX  ?= /usr/local
DESTDIR ?=
CARGO   ?= cargo
LIB      = target/release/libsockswap.so
BIN      = target/release/sockswap

.PHONY: all build deps test test-cargo test-c test-scripts vm-setup bench demo install uninstall clean fmt fuzz

all: build

build:
	$(CARGO) build --release --workspace

# Every suite runs even if an earlier one failed; the target fails if any did.
test: deps build
	@rc=0; \
	$(MAKE) --no-print-directory test-cargo   || rc=1; \
	$(MAKE) --no-print-directory test-c       || rc=1; \
	$(MAKE) --no-print-directory test-scripts || rc=1; \
	exit $$rc

test-cargo:
	$(CARGO) test --release --workspace

test-c: build
	SOCKSWAP_LIB=$(CURDIR)/$(LIB) SOCKSWAP_BIN=$(CURDIR)/$(BIN) c-tests/run.sh

# t-vsock-vm boots a QEMU guest; its setup (apt, cargo, kernel) is cached, seconds once done.
test-scripts: deps build vm-setup
	SOCKSWAP_LIB=$(CURDIR)/$(LIB) SOCKSWAP_BIN=$(CURDIR)/$(BIN) test-scripts/run.sh

# Debian packages the tests use (root; a no-op when present).
deps:
	bash test-scripts/deps.sh

vm-setup:
	bash test-scripts/vm/setup.sh >/dev/null

bench: deps build vm-setup
	SOCKSWAP_LIB=$(CURDIR)/$(LIB) SOCKSWAP_BIN=$(CURDIR)/$(BIN) test-scripts/bench/run.sh

# Coverage-guided fuzzing of the socketbox parsers/decoders, FUZZ_SECONDS per target; fails on a
# crash. Installs cargo-fuzz (and g++) if missing. See fuzz/run.sh.
FUZZ_SECONDS ?= 20
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) fuzz/run.sh

demo: deps build
	SOCKSWAP_LIB=$(CURDIR)/$(LIB) SOCKSWAP_BIN=$(CURDIR)/$(BIN) test-scripts/demo.sh

install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/sockswap
	install -D -m 0755 $(LIB) $(DESTDIR)$(PREFIX)/lib/sockswap/libsockswap.so
	install -D -m 0644 docs/configuration.md $(DESTDIR)$(PREFIX)/share/doc/sockswap/configuration.md
	install -D -m 0755 target/release/socketbox $(DESTDIR)$(PREFIX)/bin/socketbox
	install -D -m 0644 docs/router.md $(DESTDIR)$(PREFIX)/share/doc/sockswap/router.md
	install -D -m 0644 docs/router-config.md $(DESTDIR)$(PREFIX)/share/doc/sockswap/router-config.md
	install -D -m 0644 docs/architecture.md $(DESTDIR)$(PREFIX)/share/doc/sockswap/architecture.md
	install -D -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/sockswap/README.md
	install -D -m 0644 docs/socketbox.service $(DESTDIR)$(PREFIX)/share/doc/sockswap/socketbox.service

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/sockswap $(DESTDIR)$(PREFIX)/lib/sockswap/libsockswap.so
	rm -f $(DESTDIR)$(PREFIX)/bin/socketbox
	rm -rf $(DESTDIR)$(PREFIX)/share/doc/sockswap

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
