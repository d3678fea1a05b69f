/*
 * Privilege separation: the CA keys live only in the signer process, which
 * cannot open network sockets or run programs; started as root, both
 * processes drop to an unprivileged user and scepd keeps working (enroll,
 * CRL, SIGHUP after `scepctl challenge reset`); a dead signer stops scepd.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "server/privsep/privsep.h"
#include "tests/lib/testutil.h"

/* The pid after "text" in the server's log, waiting up to 10 s. */
static pid_t
log_pid(const struct tu_server *s, const char *text)
{
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	char path[600], *log, *p;
	size_t n;
	pid_t pid = 0;
	int i;

	snprintf(path, sizeof(path), "%s/log", s->dir);
	for (i = 0; i < 500 && pid == 0; i++) {
		if ((log = (char *)tu_read_file(path, &n)) != NULL) {
			if ((p = strstr(log, text)) != NULL)
				pid = (pid_t)atoi(p + strlen(text));
			free(log);
		}
		if (pid == 0)
			nanosleep(&ts, NULL);
	}
	return pid;
}

static pid_t
signer_of(const struct tu_server *s)
{
	pid_t pid = log_pid(s, "held by the signer process (pid ");

	ck_assert_int_gt(pid, 0);
	return pid;
}

/* A line of /proc/PID/status, e.g. "Seccomp", as a number. */
static long
proc_status(pid_t pid, const char *key)
{
	char path[64], line[256];
	size_t klen = strlen(key);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, klen) == 0 && line[klen] == ':')
			v = strtol(line + klen + 1, NULL, 10);
	fclose(f);
	return v;
}

/*
 * Does needle occur in the process's writable memory?  -1: its memory
 * cannot be read (not dumpable and we are not root).
 */
static int
memory_has(pid_t pid, const unsigned char *needle, size_t nlen)
{
	char path[64], line[512], perms[8];
	unsigned long lo, hi;
	unsigned char *buf;
	FILE *maps;
	int mem, found = 0;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	ck_assert_ptr_nonnull(maps = fopen(path, "r"));
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	if ((mem = open(path, O_RDONLY)) < 0) {
		fclose(maps);
		return -1;
	}
	while (!found && fgets(line, sizeof(line), maps) != NULL) {
		size_t len, i;
		ssize_t got;

		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3 ||
		    perms[0] != 'r' || perms[1] != 'w')
			continue;
		len = hi - lo;
		if (len > (256UL << 20))	/* sanitizer shadow, not heap */
			continue;
		ck_assert_ptr_nonnull(buf = malloc(len));
		got = pread(mem, buf, len, (off_t)lo);
		if (got < 0 && errno == EIO) {
			free(buf);
			continue;
		}
		if (got < 0) {		/* EPERM/EACCES: not ours to read */
			free(buf);
			close(mem);
			fclose(maps);
			return -1;
		}
		for (i = 0; !found && i + nlen <= (size_t)got; i++)
			found = buf[i] == needle[0] &&
			    memcmp(buf + i, needle, nlen) == 0;
		free(buf);
	}
	close(mem);
	fclose(maps);
	return found;
}

/*
 * 32 bytes from the middle of an RSA key's first prime, in the byte order
 * of a big-endian encoding (be) and of OpenSSL's 64-bit limbs (le).
 */
static void
prime_bytes(const char *keyfile, unsigned char be[32], unsigned char le[32])
{
	EVP_PKEY *k = tu_read_key(keyfile);
	BIGNUM *p = NULL;
	unsigned char b[1024];
	int n;

	ck_assert_ptr_nonnull(k);
	ck_assert(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_FACTOR1, &p));
	ck_assert_int_gt(n = BN_bn2bin(p, b), 64);
	memcpy(be, b + 16, 32);
	ck_assert_int_eq(BN_bn2lebinpad(p, b, n), n);
	memcpy(le, b + 16, 32);		/* 16: a limb boundary */
	BN_free(p);
	EVP_PKEY_free(k);
}

static int
has_key(pid_t pid, const char *keyfile)
{
	unsigned char be[32], le[32];
	int a, b;

	prime_bytes(keyfile, be, le);
	if ((a = memory_has(pid, be, 32)) < 0 ||
	    (b = memory_has(pid, le, 32)) < 0)
		return -1;
	return a || b;
}

START_TEST(test_ca_key_only_in_signer)
{
	struct tu_server s;
	char cakey[600], rakey[600];
	pid_t signer_pid;
	int in_signer;

	ck_assert_int_eq(tu_server_start(&s, NULL), 1);
	signer_pid = signer_of(&s);
	/* Issue, sign a CRL, GetNextCACert: every path has run once. */
	ck_assert_int_eq(tu_enroll_status(&s, "lab-secret"), 0);
	snprintf(cakey, sizeof(cakey), "%s/var/ca.key", s.dir);
	snprintf(rakey, sizeof(rakey), "%s/var/ra.key", s.dir);
	ck_assert_int_eq(has_key(s.pid, cakey), 0);
	/* The search works: the RA key is here, the CA key there. */
	ck_assert_int_eq(has_key(s.pid, rakey), 1);
	in_signer = has_key(signer_pid, cakey);
	ck_assert(in_signer == 1 || (in_signer == -1 && geteuid() != 0));
	printf("privsep: CA key found in the signer (pid %d): %s; in the "
	    "network-facing process (pid %d): no\n", (int)signer_pid,
	    in_signer == 1 ? "yes" : "not readable", (int)s.pid);
	ck_assert_int_eq(tu_server_stop(&s), 1);
}
END_TEST

/* The signer: seccomp on, no new privileges, not dumpable, no TCP. */
START_TEST(test_signer_confined)
{
	struct tu_server s;
	char path[600], link[256], tcp[4096];
	struct dirent *de;
	unsigned long inode;
	pid_t signer_pid;
	DIR *d;
	int sockets = 0;

	ck_assert_int_eq(tu_server_start(&s, NULL), 1);
	signer_pid = signer_of(&s);
	ck_assert_int_eq(proc_status(signer_pid, "Seccomp"), 2);
	ck_assert_int_eq(proc_status(signer_pid, "NoNewPrivs"), 1);
	ck_assert_int_eq(proc_status(s.pid, "Seccomp"), 0);
	/* Its descriptors: stdio and the socketpairs to scepd, nothing else. */
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)signer_pid);
	ck_assert_ptr_nonnull(d = opendir(path));
	while ((de = readdir(d)) != NULL) {
		ssize_t n;

		if (de->d_name[0] == '.' || atoi(de->d_name) <= 2)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fd/%s", (int)signer_pid,
		    de->d_name);
		ck_assert_int_gt(n = readlink(path, link, sizeof(link) - 1), 0);
		link[n] = '\0';
		ck_assert_msg(sscanf(link, "socket:[%lu]", &inode) == 1,
		    "signer holds %s", link);
		/* Not a TCP socket of any kind. */
		snprintf(tcp, sizeof(tcp), "grep -qw %lu /proc/net/tcp "
		    "/proc/net/tcp6 /proc/net/udp /proc/net/udp6", inode);
		ck_assert_int_ne(system(tcp), 0);
		sockets++;
	}
	closedir(d);
	ck_assert_int_gt(sockets, 0);
	ck_assert_int_eq(tu_server_stop(&s), 1);
}
END_TEST

/* The filter itself, in a child: no TCP, no exec; AF_UNIX still works. */
START_TEST(test_no_network_filter)
{
	const char *why = "";
	pid_t pid;
	int status;

	if ((pid = fork()) == 0) {
		char *const argv[] = { "/bin/true", NULL };
		int fd, ok;

		if (!sandbox_no_network(&why))
			_exit(10);
		fd = socket(AF_INET, SOCK_STREAM, 0);
		ok = fd < 0 && errno == EACCES;
		fd = socket(AF_INET6, SOCK_DGRAM, 0);
		ok = ok && fd < 0 && errno == EACCES;
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		ok = ok && fd >= 0;
		if (!ok)
			_exit(11);
		execv(argv[0], argv);
		_exit(errno == EPERM ? 0 : 12);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

/* Started as root: both processes run as an unprivileged user. */
START_TEST(test_root_drops)
{
	static const char *const extra[] = { "user=", "challenge=auto", NULL };
	struct tu_server s;
	char path[600], *out, *nl;
	struct stat st;
	pid_t signer_pid;

	/* A skipped precondition is a failure: CI runs make check as root. */
	ck_assert_msg(geteuid() == 0, "privsep: the root drop needs root to "
	    "test (run make check as root)");
	ck_assert_int_eq(tu_server_start(&s, extra), 1);
	ck_assert_int_eq(chmod(s.dir, 0711), 0);	/* tmpdir is 0700 */
	ck_assert_int_gt(log_pid(&s, "(uid "), 0);
	signer_pid = signer_of(&s);
	ck_assert_int_gt(proc_status(s.pid, "Uid"), 0);
	ck_assert_int_gt(proc_status(signer_pid, "Uid"), 0);
	/* Keys stay root's and 0600; the ledger and CRLs are the user's. */
	snprintf(path, sizeof(path), "%s/var/ca.key", s.dir);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_uid, 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	snprintf(path, sizeof(path), "%s/var/data/ledger.db", s.dir);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_uid, (uid_t)proc_status(s.pid, "Uid"));
	/* A new challenge from root's scepctl reaches it on SIGHUP. */
	ck_assert_ptr_nonnull(out = tu_scepctl(&s, "-o challenge=auto "
	    "challenge reset"));
	ck_assert_ptr_nonnull(nl = strchr(out, '\n'));
	*nl = '\0';
	tu_hup_and_wait(&s, " re-read; ");
	ck_assert_int_eq(tu_log_count(&s, "reload: challenge"), 0);
	ck_assert_int_eq(tu_enroll_status(&s, out), 0);
	free(out);
	/* The issuance was recorded and a CRL was written as that user. */
	snprintf(path, sizeof(path), "%s/var/data/crl", s.dir);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_uid, (uid_t)proc_status(s.pid, "Uid"));
	ck_assert_int_eq(tu_server_stop(&s), 1);
}
END_TEST

/* A signer that dies takes scepd down with it (systemd restarts both). */
START_TEST(test_signer_death_stops_scepd)
{
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	struct tu_server s;
	int i, status = 0, gone = 0;

	ck_assert_int_eq(tu_server_start(&s, NULL), 1);
	ck_assert_int_eq(kill(signer_of(&s), SIGKILL), 0);
	for (i = 0; i < 100 && !gone; i++) {
		gone = waitpid(s.pid, &status, WNOHANG) == s.pid;
		if (!gone)
			nanosleep(&ts, NULL);
	}
	ck_assert(gone);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 1);
	ck_assert_int_eq(tu_log_count(&s, "the CA signer process exited"), 1);
	s.pid = 0;
	tu_server_stop(&s);	/* its directory */
}
END_TEST

#define SOFTHSM_MODULE	"/usr/lib/softhsm/libsofthsm2.so"

/* A SoftHSM2 token in dir holding an RSA key "ca" (also in dir/ca.p8). */
static void
make_token(const char *dir)
{
	char cmd[2048], path[600];
	FILE *f;

	snprintf(path, sizeof(path), "%s/softhsm2.conf", dir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fprintf(f, "directories.tokendir = %s/tokens\nobjectstore.backend = "
	    "file\nlog.level = ERROR\n", dir);
	fclose(f);
	ck_assert_int_eq(setenv("SOFTHSM2_CONF", path, 1), 0);
	snprintf(cmd, sizeof(cmd), "mkdir %s/tokens && "
	    "softhsm2-util --init-token --free --label scepd-test --pin 1234 "
	    "--so-pin 5678 >/dev/null && "
	    "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 "
	    "-out %s/ca.p8 2>/dev/null && "
	    "softhsm2-util --import %s/ca.p8 --token scepd-test --label ca "
	    "--id 01 --pin 1234 >/dev/null", dir, dir, dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void
write_pin(const char *path, const char *pin)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fprintf(f, "%s\n", pin);
	fclose(f);
	ck_assert_int_eq(chmod(path, 0600), 0);
}

/*
 * ca_key on a PKCS#11 token (SoftHSM2 through OpenSSL's pkcs11 engine):
 * the CA is made for the token's key, no key file exists, enrollment and
 * CRLs work, the key is nowhere in the network-facing process; a wrong
 * PIN stops scepd with a reason.
 */
START_TEST(test_ca_key_on_token)
{
	char *dir = tu_tmpdir(), key[700], module[200], pin[800], p8[600];
	char path[700], cmd[1600];
	const char *extra[] = { key, module, pin, NULL };
	struct tu_server s;

	make_token(dir);
	snprintf(key, sizeof(key), "ca_key=pkcs11:token=scepd-test;object=ca;"
	    "type=private");
	snprintf(module, sizeof(module), "pkcs11_module=%s", SOFTHSM_MODULE);
	snprintf(path, sizeof(path), "%s/pin", dir);
	write_pin(path, "1234");
	snprintf(pin, sizeof(pin), "pkcs11_pin_file=%s", path);
	snprintf(p8, sizeof(p8), "%s/ca.p8", dir);

	ck_assert_int_eq(tu_server_start(&s, extra), 1);
	snprintf(path, sizeof(path), "%s/var/ca.key", s.dir);
	ck_assert_int_ne(access(path, F_OK), 0);
	snprintf(cmd, sizeof(cmd), "test \"$(openssl x509 -in %s/var/ca.pem "
	    "-noout -pubkey)\" = \"$(openssl pkey -in %s -pubout)\"", s.dir,
	    p8);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(tu_enroll_status(&s, "lab-secret"), 0);
	snprintf(path, sizeof(path), "%s/var/data/crl", s.dir);
	ck_assert_int_eq(access(path, F_OK), 0);
	ck_assert_int_eq(has_key(s.pid, p8), 0);
	ck_assert_int_eq(tu_server_stop(&s), 1);

	snprintf(path, sizeof(path), "%s/pin", dir);
	write_pin(path, "9999");
	ck_assert_int_eq(tu_server_start(&s, extra), 0);
	ck_assert_int_ge(tu_log_count(&s, "wrong PIN"), 1);
	tu_server_stop(&s);
	unsetenv("SOFTHSM2_CONF");
	tu_rm_rf(dir);
	free(dir);
}
END_TEST

static Suite *
privsep_suite(void)
{
	Suite *s = suite_create("privsep");
	TCase *t = tcase_create("privsep");

	tcase_set_timeout(t, 120);
	tcase_add_test(t, test_no_network_filter);
	tcase_add_test(t, test_signer_confined);
	tcase_add_test(t, test_ca_key_only_in_signer);
	tcase_add_test(t, test_root_drops);
	tcase_add_test(t, test_signer_death_stops_scepd);
	tcase_add_test(t, test_ca_key_on_token);
	suite_add_tcase(s, t);
	return s;
}

int
main(void)
{
	return tu_run_suite(privsep_suite(), 0);
}
