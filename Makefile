# scepd — SCEP server with a delivery ledger.  See README.md.
#
#   make            build bin/scepd and bin/scepctl
#   make run        install missing build dependencies, build, run the lab default
#   make check      every test: unit suites, end to end, interop, then again under ASan+UBSan

CC      ?= cc
CFLAGS  ?= -O2 -g
PKGS     = openssl libmicrohttpd sqlite3
# Always applied, whatever CFLAGS the caller passes (make check passes the
# sanitizer flags through CFLAGS).
WARN     = -std=c11 -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes
DEFS     = -I. -DOPENSSL_API_COMPAT=30000 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
ALL_CFLAGS = $(DEFS) $(CPPFLAGS) $(WARN) $(shell pkg-config --cflags $(PKGS)) $(CFLAGS)
ALL_LIBS   = $(shell pkg-config --libs $(PKGS)) -lpthread $(LDLIBS)
CHECK_CFLAGS = $(shell pkg-config --cflags check)
CHECK_LIBS   = $(shell pkg-config --libs check)

# BUILD is the object/binary root; `make check` reuses this Makefile with
# BUILD=build/asan and sanitizer flags for its second pass.
BUILD   ?= .
OBJ      = $(BUILD)/obj
BIN      = $(BUILD)/bin

# The libraries (no HTTP, no logging, no globals) and one archive per
# server/ module; each program links the archives it uses, so scepctl
# carries no HTTP or signer code and scepd no ctl/ code.
PKCS7_SRC  = $(wildcard pkcs7/*.c)
CA_SRC     = $(wildcard ca/*.c)
STORE_SRC  = $(wildcard store/*.c)
LIB_SRC    = $(PKCS7_SRC) $(CA_SRC) $(STORE_SRC)
LIB_OBJ    = $(LIB_SRC:%.c=$(OBJ)/%.o)
MODULES    = daemon ctl http admin enroll privsep common
# main.c and scepctl.c are the programs, not part of their module's archive.
MODULE_SRC = $(filter-out server/daemon/main.c server/ctl/scepctl.c,$(wildcard server/$(1)/*.c))
MODULE_LIBS = $(MODULES:%=$(BIN)/libscepd_%.a)
SCEPD_LIBS  = $(BIN)/libscepd_daemon.a $(BIN)/libscepd_http.a \
              $(BIN)/libscepd_admin.a $(BIN)/libscepd_enroll.a \
              $(BIN)/libscepd_privsep.a $(BIN)/libscepd_common.a $(BIN)/libscep.a
SCEPCTL_LIBS = $(BIN)/libscepd_ctl.a $(BIN)/libscepd_enroll.a \
              $(BIN)/libscepd_common.a $(BIN)/libscep.a
# Tests may call any module.
ALL_LIBS_A  = $(MODULE_LIBS) $(BIN)/libscep.a

# tests/<kind>/<suite>_test.c: unit suites call the libraries and modules
# directly; e2e suites (one per feature, each with its own servers) drive
# the real bin/scepd; ops, privsep and hostile drive it as an operator or
# an attacker would.
UNIT_SUITES = pkcs7 ca store config enroll wire http
E2E_SUITES  = e2e_http e2e_lifecycle e2e_policy e2e_delivery
TEST_SUITES = $(UNIT_SUITES) $(E2E_SUITES) ops privsep hostile
TEST_BINS   = $(TEST_SUITES:%=$(BIN)/test_%)
TEST_HELPER = $(OBJ)/tests/lib/scep_client.o $(OBJ)/tests/lib/testutil.o
TEST_KIND   = $(firstword $(foreach k,unit e2e ops hostile,$(if $(wildcard tests/$(k)/$(1)_test.c),$(k))))
# The e2e suites share their fixtures and request helpers.
TEST_EXTRA  = $(if $(filter e2e,$(call TEST_KIND,$(1))),$(OBJ)/tests/e2e/e2e.o)

all: $(BIN)/scepd $(BIN)/scepctl

$(OBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(OBJ)/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) -MMD -MP -c -o $@ $<

$(BIN)/libscep.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

define MODULE_RULE
$(BIN)/libscepd_$(1).a: $(patsubst %.c,$(OBJ)/%.o,$(call MODULE_SRC,$(1)))
	@mkdir -p $$(dir $$@)
	rm -f $$@ && ar rcs $$@ $$^
endef
$(foreach m,$(MODULES),$(eval $(call MODULE_RULE,$(m))))

$(BIN)/scepd: $(OBJ)/server/daemon/main.o $(SCEPD_LIBS)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(ALL_LIBS)

$(BIN)/scepctl: $(OBJ)/server/ctl/scepctl.o $(SCEPCTL_LIBS)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(ALL_LIBS)

define TEST_RULE
$(BIN)/test_$(1): $(OBJ)/tests/$(call TEST_KIND,$(1))/$(1)_test.o $(call TEST_EXTRA,$(1)) \
    $(TEST_HELPER) $(ALL_LIBS_A)
	$$(CC) $$(CFLAGS) $$(LDFLAGS) -o $$@ $$^ $$(CHECK_LIBS) $$(ALL_LIBS)
endef
$(foreach t,$(TEST_SUITES),$(eval $(call TEST_RULE,$(t))))

BENCH_OBJ = $(OBJ)/tests/bench/scepbench.o $(OBJ)/tests/bench/http_load.o \
            $(OBJ)/tests/lib/scep_client.o
$(BIN)/scepbench: $(BENCH_OBJ)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(ALL_LIBS)

$(BIN)/cryptobench: $(OBJ)/tests/bench/cryptobench.o $(OBJ)/tests/bench/http_load.o \
    $(OBJ)/tests/lib/scep_client.o $(ALL_LIBS_A)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(ALL_LIBS)

$(BIN)/rssfloor: $(OBJ)/tests/bench/rssfloor.o
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(ALL_LIBS)

$(BIN)/ledgerbench: $(OBJ)/tests/bench/ledgerbench.o $(OBJ)/tests/bench/http_load.o \
    $(ALL_LIBS_A)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(ALL_LIBS)

tests: $(TEST_BINS) $(BIN)/scepd $(BIN)/scepctl $(BIN)/scepbench $(BIN)/ledgerbench \
    $(BIN)/cryptobench $(BIN)/rssfloor

# Unit and end-to-end suites.  Check forks per test; each suite prints its
# "NN%: Checks: N, Failures: N, Errors: N" summary line.
unit: tests
	@set -e; for t in $(TEST_SUITES); do \
	  echo "== $$t"; SCEPD_BIN=$(BIN) $(BIN)/test_$$t; done

interop: all
	SCEPD_BIN=$(BIN) tests/interop/run-all.sh

# `make bench`: speed and memory against the targets, and micromdm's
# scepserver side by side (see scripts/bench.sh).  Not part of check;
# check runs the short smoke run of the same tools.
bench: all $(BIN)/scepbench $(BIN)/ledgerbench $(BIN)/cryptobench \
    $(BIN)/rssfloor
	scripts/deps.sh --install --test --bench
	SCEPD_BIN=$(BIN) scripts/bench.sh

bench-smoke: all $(BIN)/scepbench $(BIN)/ledgerbench $(BIN)/cryptobench
	SCEPD_BIN=$(BIN) scripts/bench.sh --smoke

# make fuzz: libFuzzer targets (clang), each run for FUZZ_SECONDS; make
# check runs them for 50 s each (five minutes for the six).  See
# scripts/fuzz.sh and tests/fuzz/.
FUZZ_TARGETS = pkimessage csr b64 config ingest wire
FUZZ_SECONDS ?= 60
FUZZ_FLAGS   = -O1 -g -fno-omit-frame-pointer \
               -fsanitize=address,undefined -fno-sanitize-recover=all

fuzz:
	$(MAKE) BUILD=build/fuzz CC=clang \
	  CFLAGS="$(FUZZ_FLAGS) -fsanitize=fuzzer-no-link" \
	  LDFLAGS="$(FUZZ_FLAGS) -fsanitize=fuzzer" fuzz-bins
	FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh $(FUZZ_TARGETS)

fuzz-bins: $(FUZZ_TARGETS:%=$(BIN)/fuzz_%)

$(BIN)/fuzz_%: $(OBJ)/tests/fuzz/fuzz_%.o $(OBJ)/tests/fuzz/fuzz_util.o \
    $(ALL_LIBS_A)
	$(CC) $(LDFLAGS) -o $@ $^ $(ALL_LIBS)

install-check: all
	tests/ops/install-test.sh

# make valgrind: the library suites under memcheck, then the end-to-end
# and hostile-client suites with scepd (and its signer) under memcheck.
# A memory error or a definite leak fails (exit 99, or scepd's unclean
# exit).  Check's per-test timeouts are stretched for valgrind's pace, and
# the test clients take RSA keys from a pool made once (natively) instead
# of generating each under memcheck.
VALGRIND_SUITES = pkcs7 ca store config enroll wire http
VALGRIND_E2E    = $(E2E_SUITES) hostile
VALGRIND = valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite \
           --error-exitcode=99
TEST_KEYS = build/test-keys.pem

$(TEST_KEYS):
	@mkdir -p $(dir $@)
	for i in $$(seq 32); do openssl genpkey -algorithm RSA \
	  -pkeyopt rsa_keygen_bits:2048 2>/dev/null || exit 1; done >$@.tmp
	mv $@.tmp $@

valgrind: tests $(TEST_KEYS)
	@set -e; for t in $(VALGRIND_SUITES); do \
	  echo "== valgrind $$t"; CK_TIMEOUT_MULTIPLIER=20 SCEPD_BIN=$(BIN) \
	  SCEPD_TEST_KEYS=$(TEST_KEYS) $(VALGRIND) $(BIN)/test_$$t; done
	@set -e; for t in $(VALGRIND_E2E); do \
	  echo "== $$t, scepd under valgrind"; CK_TIMEOUT_MULTIPLIER=20 \
	  SCEPD_VALGRIND=1 SCEPD_BIN=$(BIN) $(BIN)/test_$$t; done

check:
	scripts/deps.sh --install --test
	$(MAKE) unit valgrind interop bench-smoke install-check
	$(MAKE) fuzz FUZZ_SECONDS=50
	$(MAKE) unit BUILD=build/asan CC=clang \
	  CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" \
	  LDFLAGS="-fsanitize=address,undefined"

run: 
	scripts/deps.sh --install
	$(MAKE) all
	$(BIN)/scepd -c conf/scepd.conf

# make install [PREFIX=/usr/local] [DESTDIR=]: binaries, man pages, the
# configuration (state in /var/lib/scepd; an existing one is kept and the
# new one put beside it as scepd.conf.new), the systemd unit and the
# nginx example.  /etc for PREFIX=/usr, else PREFIX/etc.
PREFIX     ?= /usr/local
SBINDIR    ?= $(PREFIX)/sbin
MANDIR     ?= $(PREFIX)/share/man
DOCDIR     ?= $(PREFIX)/share/doc/scepd
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
UNITDIR    ?= $(if $(filter /usr,$(PREFIX)),/lib/systemd/system,$(PREFIX)/lib/systemd/system)

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man5 \
	  $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(SYSCONFDIR)/scepd \
	  $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DOCDIR)
	install -m 0755 $(BIN)/scepd $(BIN)/scepctl $(DESTDIR)$(SBINDIR)
	install -m 0644 man/scepd.8 man/scepctl.8 $(DESTDIR)$(MANDIR)/man8
	install -m 0644 man/scepd.conf.5 $(DESTDIR)$(MANDIR)/man5
	sed -e 's|^state_dir = .*|state_dir = /var/lib/scepd|' conf/scepd.conf \
	  > $(DESTDIR)$(SYSCONFDIR)/scepd/scepd.conf.new
	chmod 0644 $(DESTDIR)$(SYSCONFDIR)/scepd/scepd.conf.new
	[ -e $(DESTDIR)$(SYSCONFDIR)/scepd/scepd.conf ] || \
	  mv $(DESTDIR)$(SYSCONFDIR)/scepd/scepd.conf.new \
	  $(DESTDIR)$(SYSCONFDIR)/scepd/scepd.conf
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	  conf/scepd.service > $(DESTDIR)$(UNITDIR)/scepd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/scepd.service
	install -m 0644 conf/nginx-scepd.conf README.md $(DESTDIR)$(DOCDIR)

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/scepd $(DESTDIR)$(SBINDIR)/scepctl \
	  $(DESTDIR)$(MANDIR)/man8/scepd.8 $(DESTDIR)$(MANDIR)/man8/scepctl.8 \
	  $(DESTDIR)$(MANDIR)/man5/scepd.conf.5 $(DESTDIR)$(UNITDIR)/scepd.service
	rm -rf $(DESTDIR)$(DOCDIR)
	@echo "kept $(SYSCONFDIR)/scepd and /var/lib/scepd (the CA and ledger)"

clean:
	rm -rf obj bin build

-include $(shell find $(OBJ) -name '*.d' 2>/dev/null)

.PHONY: valgrind fuzz fuzz-bins install uninstall install-check bench bench-smoke all tests unit interop check run clean
.SECONDARY:
