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

PKCS7_SRC  = pkcs7/scep_msg.c pkcs7/scep_certrep.c pkcs7/scep_oid.c pkcs7/scep_err.c \
             pkcs7/scep_x509.c
CA_SRC     = ca/ca.c ca/ca_sign.c ca/ca_csr.c ca/ca_files.c ca/ca_crl.c ca/ca_decrypt.c ca/ca_pkcs11.c
STORE_SRC  = store/ledger.c store/ledger_schema.c
SERVER_LIB = server/config.c server/log.c server/b64.c server/challenge.c server/enroll.c \
             server/http.c server/setup.c server/crl.c server/challenge_exec.c \
             server/ratelimit.c server/admin_page.c server/ingest.c \
             server/metrics.c server/admin_api.c server/hook.c server/admin_web.c \
             server/workq.c server/doctor.c server/mdm_profile.c \
             server/reload.c server/signer.c server/sandbox.c server/deadline.c
LIB_SRC    = $(PKCS7_SRC) $(CA_SRC) $(STORE_SRC) $(SERVER_LIB)
LIB_OBJ    = $(LIB_SRC:%.c=$(OBJ)/%.o)

TEST_SUITES = pkcs7 ca store config e2e ops privsep hostile
TEST_BINS   = $(TEST_SUITES:%=$(BIN)/test_%)
TEST_HELPER = $(OBJ)/tests/scep_client.o $(OBJ)/tests/testutil.o

all: $(BIN)/scepd $(BIN)/scepctl

$(OBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(OBJ)/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) -MMD -MP -c -o $@ $<

$(BIN)/libscepd.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BIN)/scepd: $(OBJ)/server/main.o $(BIN)/libscepd.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(ALL_LIBS)

$(BIN)/scepctl: $(OBJ)/server/scepctl.o $(BIN)/libscepd.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(ALL_LIBS)

$(BIN)/test_%: $(OBJ)/tests/%_test.o $(TEST_HELPER) $(BIN)/libscepd.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(ALL_LIBS)

BENCH_OBJ = $(OBJ)/tests/bench/scepbench.o $(OBJ)/tests/bench/http_load.o \
            $(OBJ)/tests/scep_client.o
$(BIN)/scepbench: $(BENCH_OBJ)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(ALL_LIBS)

$(BIN)/cryptobench: $(OBJ)/tests/bench/cryptobench.o $(OBJ)/tests/bench/http_load.o \
    $(OBJ)/tests/scep_client.o $(BIN)/libscepd.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(ALL_LIBS)

$(BIN)/rssfloor: $(OBJ)/tests/bench/rssfloor.o
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(ALL_LIBS)

$(BIN)/ledgerbench: $(OBJ)/tests/bench/ledgerbench.o $(OBJ)/tests/bench/http_load.o \
    $(BIN)/libscepd.a
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
# check runs them for 60 s each.  See scripts/fuzz.sh and tests/fuzz/.
FUZZ_TARGETS = pkimessage csr b64 config ingest
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
    $(BIN)/libscepd.a
	$(CC) $(LDFLAGS) -o $@ $^ $(ALL_LIBS)

install-check: all
	tests/install-test.sh

# make valgrind: the library suites under memcheck, then the end-to-end
# and hostile-client suites with scepd (and its signer) under memcheck.
# A memory error or a definite leak fails (exit 99, or scepd's unclean
# exit).  Check's per-test timeouts are stretched for valgrind's pace, and
# the test clients take RSA keys from a pool made once (natively) instead
# of generating each under memcheck.
VALGRIND_SUITES = pkcs7 ca store config
VALGRIND_E2E    = e2e hostile
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
	$(MAKE) unit valgrind interop bench-smoke install-check fuzz
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
