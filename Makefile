# sockswap — see README.md. `make` builds, `make test` runs every test, `make bench` measures.
PREFIX  ?= /usr/local
DESTDIR ?=
CARGO   ?= cargo
LIB      = target/release/libsockswap.so
BIN      = target/release/sockswap
# socketbox's receiving-side programs: links to `socketbox`, which dispatches on its name.
SOCKETBOX_APPLETS = socketbox-inetd socketbox-inetd-p socketbox-relay send-receive-fd socket-query

.PHONY: all build deps test test-cargo test-c test-scripts test-fuzz-smoke vm-setup bench demo install uninstall clean fmt fuzz man completions deb

all: build

build:
	$(CARGO) build --release --workspace

# Every suite runs even if an earlier one failed; the target fails if any did.
test: deps build
	@rc=0; \
	$(MAKE) --no-print-directory test-cargo   || rc=1; \
	$(MAKE) --no-print-directory test-c       || rc=1; \
	$(MAKE) --no-print-directory test-scripts || rc=1; \
	$(MAKE) --no-print-directory test-fuzz-smoke || rc=1; \
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

# A few seconds of every fuzz target (uninstrumented, stable toolchain): see fuzz/smoke.sh.
test-fuzz-smoke:
	fuzz/smoke.sh

# Coverage-guided fuzzing of the parsers/decoders, FUZZ_SECONDS per target; fails on a
# crash. Installs cargo-fuzz (and g++) if missing. See fuzz/run.sh.
FUZZ_SECONDS ?= 20
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) fuzz/run.sh

demo: deps build
	SOCKSWAP_LIB=$(CURDIR)/$(LIB) SOCKSWAP_BIN=$(CURDIR)/$(BIN) test-scripts/demo.sh

# Installed layout (the Debian package is this with PREFIX=/usr). `sockswap run` finds the library
# relative to its own binary (bin/../lib/sockswap/), so no variable or --lib is needed.
BINDIR    = $(PREFIX)/bin
LIBDIR    = $(PREFIX)/lib/sockswap
MANDIR    = $(PREFIX)/share/man
DOCDIR    = $(PREFIX)/share/doc/sockswap
UNITDIR  ?= $(PREFIX)/lib/systemd/system
BASHCOMPDIR = $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR  = $(PREFIX)/share/zsh/vendor-completions
FISHCOMPDIR = $(PREFIX)/share/fish/vendor_completions.d
DOCS     = README.md docs/configuration.md docs/router.md docs/router-config.md docs/architecture.md
UNITS    = docs/systemd/socketbox.service docs/systemd/socketbox-socket-server.service
VERSION  = $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)

# Man pages: sockswap(1) from the CLI's own clap definition (what --help prints, plus the
# sections in src/cli/src/manual.rs); socketbox(8) and sockswap-rules(5) from docs/router.md and
# docs/configuration.md, with `socketbox --help` as the synopsis (src/cli/src/bin/md2man.rs).
man: build
	@mkdir -p target/man
	target/release/sockswap manpage > target/man/sockswap.1
	target/release/socketbox --help > target/man/socketbox.synopsis
	target/release/md2man socketbox 8 "connection router that hands accepted sockets to daemons" \
	    docs/router.md target/man/socketbox.synopsis > target/man/socketbox.8
	target/release/md2man sockswap-rules 5 "rules and environment variables of libsockswap.so and sockswap" \
	    docs/configuration.md > target/man/sockswap-rules.5

# Completions: sockswap's from clap; socketbox's are written by hand in docs/completions/ (its
# getopt-style flags are not clap's), and t-package checks they name every flag of --help.
completions: build
	@mkdir -p target/completions
	for sh in bash zsh fish; do target/release/sockswap completions $$sh > target/completions/sockswap.$$sh || exit 1; done

install: build man completions
	install -D -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/sockswap
	install -D -m 0755 target/release/socketbox $(DESTDIR)$(BINDIR)/socketbox
	ln -sf socketbox $(DESTDIR)$(BINDIR)/xsocket-server
	install -D -m 0755 target/release/libxsocket.so $(DESTDIR)$(PREFIX)/lib/libxsocket.so
	install -D -m 0644 target/release/libxsocket.a $(DESTDIR)$(PREFIX)/lib/libxsocket.a
	install -D -m 0644 src/xsocket/include/xsocket.h $(DESTDIR)$(PREFIX)/include/xsocket.h
	for n in $(SOCKETBOX_APPLETS); do ln -sf socketbox $(DESTDIR)$(BINDIR)/$$n || exit 1; done
	install -D -m 0644 target/release/libsocketbox.so $(DESTDIR)$(PREFIX)/lib/libsocketbox.so
	install -D -m 0644 include/socketbox/libsocketbox.h $(DESTDIR)$(PREFIX)/include/socketbox/libsocketbox.h
	install -D -m 0644 include/socketbox/unix_scm_rights.h $(DESTDIR)$(PREFIX)/include/socketbox/unix_scm_rights.h
	install -D -m 0644 $(LIB) $(DESTDIR)$(LIBDIR)/libsockswap.so
	install -D -m 0644 target/man/sockswap.1 $(DESTDIR)$(MANDIR)/man1/sockswap.1
	install -D -m 0644 target/man/sockswap-rules.5 $(DESTDIR)$(MANDIR)/man5/sockswap-rules.5
	install -D -m 0644 target/man/socketbox.8 $(DESTDIR)$(MANDIR)/man8/socketbox.8
	install -D -m 0644 target/completions/sockswap.bash $(DESTDIR)$(BASHCOMPDIR)/sockswap
	install -D -m 0644 target/completions/sockswap.zsh $(DESTDIR)$(ZSHCOMPDIR)/_sockswap
	install -D -m 0644 target/completions/sockswap.fish $(DESTDIR)$(FISHCOMPDIR)/sockswap.fish
	install -D -m 0644 docs/completions/socketbox.bash $(DESTDIR)$(BASHCOMPDIR)/socketbox
	install -D -m 0644 docs/completions/socketbox.zsh $(DESTDIR)$(ZSHCOMPDIR)/_socketbox
	install -D -m 0644 docs/completions/socketbox.fish $(DESTDIR)$(FISHCOMPDIR)/socketbox.fish
	for f in $(UNITS); do \
	    install -d $(DESTDIR)$(UNITDIR) && \
	    sed 's|@BINDIR@|$(BINDIR)|g; s|@DOCDIR@|$(DOCDIR)|g' $$f > $(DESTDIR)$(UNITDIR)/$$(basename $$f) && \
	    chmod 0644 $(DESTDIR)$(UNITDIR)/$$(basename $$f) || exit 1; \
	done
	for f in $(DOCS); do install -D -m 0644 $$f $(DESTDIR)$(DOCDIR)/$$(basename $$f) || exit 1; done
	install -D -m 0644 docs/systemd/socketbox.socket $(DESTDIR)$(DOCDIR)/examples/socketbox.socket

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/sockswap $(DESTDIR)$(BINDIR)/socketbox $(DESTDIR)$(BINDIR)/xsocket-server
	rm -f $(DESTDIR)$(PREFIX)/lib/libxsocket.so $(DESTDIR)$(PREFIX)/lib/libxsocket.a $(DESTDIR)$(PREFIX)/include/xsocket.h
	rm -f $(DESTDIR)$(BINDIR)/sockswap $(DESTDIR)$(BINDIR)/socketbox
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(SOCKETBOX_APPLETS))
	rm -f $(DESTDIR)$(PREFIX)/lib/libsocketbox.so
	rm -rf $(DESTDIR)$(PREFIX)/include/socketbox
	rm -rf $(DESTDIR)$(LIBDIR) $(DESTDIR)$(DOCDIR)
	rm -f $(DESTDIR)$(MANDIR)/man1/sockswap.1 $(DESTDIR)$(MANDIR)/man5/sockswap-rules.5 \
	    $(DESTDIR)$(MANDIR)/man8/socketbox.8
	rm -f $(DESTDIR)$(BASHCOMPDIR)/sockswap $(DESTDIR)$(ZSHCOMPDIR)/_sockswap \
	    $(DESTDIR)$(FISHCOMPDIR)/sockswap.fish $(DESTDIR)$(BASHCOMPDIR)/socketbox \
	    $(DESTDIR)$(ZSHCOMPDIR)/_socketbox $(DESTDIR)$(FISHCOMPDIR)/socketbox.fish
	for f in $(UNITS); do rm -f $(DESTDIR)$(UNITDIR)/$$(basename $$f); done

# A Debian package of the same set (PREFIX=/usr), built with dpkg-deb: target/sockswap_VERSION_ARCH.deb.
# Depends is what dpkg-shlibdeps finds the binaries need (libc6 and libgcc-s1, both part of every
# Debian system).
DEB_ROOT = target/deb/root
deb:
	rm -rf target/deb
	$(MAKE) --no-print-directory install DESTDIR=$(CURDIR)/$(DEB_ROOT) PREFIX=/usr
	gzip -9n $(DEB_ROOT)/usr/share/man/man*/*
	install -D -m 0644 docs/debian/copyright $(DEB_ROOT)/usr/share/doc/sockswap/copyright
	bash docs/debian/control.sh $(DEB_ROOT) $(VERSION) > target/deb/control
	install -D -m 0644 target/deb/control $(DEB_ROOT)/DEBIAN/control
	cd $(DEB_ROOT) && find usr -type f -exec md5sum {} + | sort -k2 > DEBIAN/md5sums
	dpkg-deb --root-owner-group --build $(DEB_ROOT) target/sockswap_$(VERSION)_$$(dpkg --print-architecture).deb

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
