/*
 * The signer's wire format (server/privsep/signer_wire.c): what one
 * process writes the other reads back field for field, and a frame that
 * is short, oversized or malformed is refused, never read past its end.
 * The signer reads frames from the network-facing process, so these are
 * its hostile inputs; tests/fuzz/fuzz_wire.c fuzzes the same readers.
 */
#include <sys/socket.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "ca/ca.h"
#include "server/privsep/privsep_int.h"
#include "tests/lib/testutil.h"

static struct rbuf
reader(const struct wbuf *w)
{
	struct rbuf r = { w->b, w->len, 0 };

	return r;
}

START_TEST(test_round_trip)
{
	static const unsigned char blob[] = { 0, 1, 2, 0xff };
	struct wbuf w = { 0 };
	struct rbuf r;
	const unsigned char *b;
	size_t n;

	wire_put_u32(&w, 0xdeadbeef);
	wire_put_i64(&w, -1234567890123LL);
	wire_put_blob(&w, blob, sizeof(blob));
	wire_put_str(&w, "CN=Lab CA");
	wire_put_str(&w, NULL);
	wire_put_blob(&w, NULL, 0);
	ck_assert(!w.bad);
	r = reader(&w);
	ck_assert_uint_eq(wire_get_u32(&r), 0xdeadbeef);
	ck_assert(wire_get_i64(&r) == -1234567890123LL);
	b = wire_get_blob(&r, &n);
	ck_assert_uint_eq(n, sizeof(blob));
	ck_assert_mem_eq(b, blob, sizeof(blob));
	ck_assert_str_eq(wire_get_str(&r), "CN=Lab CA");
	ck_assert_ptr_null(wire_get_str(&r));
	ck_assert(!r.bad);
	(void)wire_get_blob(&r, &n);
	ck_assert_uint_eq(n, 0);
	ck_assert(!r.bad);
	ck_assert_uint_eq(r.left, 0);
	/* Past the end: bad, zero, and it stays bad. */
	ck_assert_uint_eq(wire_get_u32(&r), 0);
	ck_assert(r.bad);
	ck_assert_ptr_null(wire_get_str(&r));
	free(w.b);
}
END_TEST

/* Each malformed field, and what reading it must give. */
static const struct {
	const char		*name;
	unsigned char		 bytes[16];
	size_t			 len;
} malformed[] = {
	{ "u32 cut short", { 0, 0, 1 }, 3 },
	{ "blob longer than the frame", { 0, 0, 0, 9, 'a', 'b' }, 6 },
	{ "blob length near 2^32", { 0xff, 0xff, 0xff, 0xfe, 'a' }, 5 },
	{ "text without its NUL", { 0, 0, 0, 2, 'a', 'b' }, 6 },
	{ "text with a NUL inside", { 0, 0, 0, 3, 'a', 0, 0 }, 7 },
	{ "empty text (no NUL at all)", { 0, 0, 0, 0 }, 4 },
	{ "nothing", { 0 }, 0 },
};

START_TEST(test_malformed)
{
	struct rbuf r = { malformed[_i].bytes, malformed[_i].len, 0 };
	size_t n = 0;

	if (_i == 0) {
		ck_assert_uint_eq(wire_get_u32(&r), 0);
	} else if (_i <= 2) {
		ck_assert_ptr_null(wire_get_blob(&r, &n));
		ck_assert_uint_eq(n, 0);
	} else {
		ck_assert_ptr_null(wire_get_str(&r));
	}
	ck_assert_msg(r.bad, "%s: not refused", malformed[_i].name);
}
END_TEST

/* A frame goes through a socketpair whole; a length over the cap is refused. */
START_TEST(test_frames)
{
	static const unsigned char huge[4] = { 0x7f, 0xff, 0xff, 0xff };
	struct wbuf w = { 0 };
	unsigned char *got = NULL;
	size_t n = 0;
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	wire_put_str(&w, "hello signer");
	ck_assert(wire_send_frame(sv[0], &w));
	ck_assert(wire_recv_frame(sv[1], &got, &n));
	ck_assert_uint_eq(n, w.len);
	ck_assert_mem_eq(got, w.b, n);
	free(got);
	got = NULL;
	/* A bad buffer is never sent. */
	w.bad = 1;
	ck_assert(!wire_send_frame(sv[0], &w));
	/* Over SIGNER_MAX_FRAME: refused before anything is allocated. */
	ck_assert_int_eq(write(sv[0], huge, sizeof(huge)), 4);
	ck_assert(!wire_recv_frame(sv[1], &got, &n));
	ck_assert_ptr_null(got);
	/* EOF in the middle of a frame. */
	ck_assert_int_eq(write(sv[0], "\0\0\0\x10" "abc", 7), 7);
	close(sv[0]);
	ck_assert(!wire_recv_frame(sv[1], &got, &n));
	ck_assert_ptr_null(got);
	close(sv[1]);
	free(w.b);
}
END_TEST

/*
 * signer_answer on the fuzz corpus's seed frames (tests/fuzz/corpus/wire,
 * made for the captured vectors' CA): each well-formed request succeeds,
 * and the same request cut short or with a byte too many is refused as
 * malformed, never half-read.
 */
static const struct {
	const char	*seed;
	int		 ok;
} seeds[] = {
	{ "sign", 1 }, { "crl", 1 }, { "decrypt", 1 }, { "unknown-op", 0 },
};

/* The reply's result, its reason copied into why. */
static int64_t
answer(const ca *c, const unsigned char *frame, size_t n, char *why,
    size_t cap)
{
	struct wbuf w = { 0 };
	struct rbuf r;
	const char *reason;
	int64_t rv;

	signer_answer(c, frame, n, &w);
	ck_assert(!w.bad);
	r = reader(&w);
	rv = wire_get_i64(&r);
	reason = wire_get_str(&r);
	snprintf(why, cap, "%s", reason != NULL ? reason : "");
	(void)wire_get_blob(&r, &n);
	ck_assert(!r.bad);
	ck_assert_uint_eq(r.left, 0);
	free(w.b);
	return rv;
}

START_TEST(test_signer_answer)
{
	static const struct ca_params p = { .key_bits = 2048, .key_type = "rsa",
	    .ca_subject = "CN=wire", .ca_days = 365, .ra_subject = "" };
	char *dir = tu_tmpdir(), path[600], cmd[1400], reason[256];
	unsigned char *frame, *longer;
	const char *why = "";
	size_t n;
	ca *c = NULL;

	snprintf(cmd, sizeof(cmd), "cp tests/fuzz/server-ca.pem %s/ca.pem && "
	    "cp tests/fuzz/server-ca.key %s/ca.key && chmod 600 %s/ca.key",
	    dir, dir, dir);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(ca_open(dir, &p, NULL, &c, &why), CA_OK);
	snprintf(path, sizeof(path), "tests/fuzz/corpus/wire/%s",
	    seeds[_i].seed);
	ck_assert_ptr_nonnull(frame = tu_read_file(path, &n));
	if (seeds[_i].ok) {
		ck_assert_msg(answer(c, frame, n, reason, sizeof(reason)) ==
		    CA_OK, "%s: %s", seeds[_i].seed, reason);
		ck_assert_int_eq(answer(c, frame, n - 1, reason,
		    sizeof(reason)), CA_ERROR);
		ck_assert_str_eq(reason, "malformed signer request");
		ck_assert_ptr_nonnull(longer = malloc(n + 1));
		memcpy(longer, frame, n);
		longer[n] = 0;
		ck_assert_int_eq(answer(c, longer, n + 1, reason,
		    sizeof(reason)), CA_ERROR);
		ck_assert_str_eq(reason, "malformed signer request");
		free(longer);
	} else {
		ck_assert_int_eq(answer(c, frame, n, reason, sizeof(reason)),
		    CA_ERROR);
		ck_assert_str_eq(reason, "unknown signer request");
	}
	free(frame);
	ca_free(c);
	tu_rm_rf(dir);
	free(dir);
}
END_TEST

static Suite *
wire_suite(void)
{
	Suite *s = suite_create("wire");
	TCase *t = tcase_create("frames");

	tcase_add_test(t, test_round_trip);
	tcase_add_loop_test(t, test_malformed, 0,
	    (int)(sizeof(malformed) / sizeof(malformed[0])));
	tcase_add_test(t, test_frames);
	tcase_add_loop_test(t, test_signer_answer, 0,
	    (int)(sizeof(seeds) / sizeof(seeds[0])));
	tcase_set_timeout(t, 30);
	suite_add_tcase(s, t);
	return s;
}

int
main(void)
{
	return tu_run_suite(wire_suite(), 1);	/* the micromdm seed is DES */
}
