/*
 * The enrollment challenge password.  Held only as a salted PBKDF2-SHA256
 * hash; compared in constant time.  The config's challenge is one of:
 *   ""                      no challenge required
 *   "auto"                  generated on first start, its hash kept in
 *                           STATE_DIR/challenge.hash (0600)
 *   "pbkdf2-sha256$I$S$H"   a hash from `scepctl challenge hash`
 *   anything else           a plaintext password, hashed at load
 */
#ifndef CHALLENGE_H
#define CHALLENGE_H

#include <stddef.h>

#define CHALLENGE_HASH_MAX	160
#define CHALLENGE_GEN_LEN	24	/* characters of a generated password */

struct challenge {
	int		required;
	unsigned int	iterations;
	unsigned char	salt[16];
	unsigned char	hash[32];
	/*
	 * After the first match, a salted SHA-256 of the verified password,
	 * so that each later enrollment costs one hash instead of PBKDF2's
	 * thousands (wrong passwords still pay the full PBKDF2).  In memory
	 * only; state: 0 empty, 1 being written, 2 ready.
	 */
	_Atomic int	fast_state;
	unsigned char	fast[32];
};

/* Hash a plaintext password with a fresh salt into the text form. */
int challenge_hash_text(const char *plain, char *out, size_t cap);

/*
 * Set c from a config value.  For "auto" with no hash yet, a password is
 * generated into new_plain (CHALLENGE_GEN_LEN + 1 bytes) and its hash
 * written to state_dir; *generated says so.
 */
int challenge_setup(struct challenge *c, const char *value,
    const char *state_dir, char *new_plain, int *generated, const char **why);

/* Replace the "auto" password; prints nothing, returns it in new_plain. */
int challenge_reset(const char *state_dir, char *new_plain, const char **why);

/* A random password of CHALLENGE_GEN_LEN characters, no look-alikes. */
int challenge_generate(char out[CHALLENGE_GEN_LEN + 1]);
/* Lowercase hex SHA-256, how one-time passwords are kept. */
int challenge_sha256(const char *plain, char hex[65]);

/* 1 if offered matches; constant time in the password's content. */
int challenge_verify(struct challenge *c, const char *offered);

#endif
