/*-------------------------------------------------------------------------
 *
 * client_token.c
 *		Signed client tokens: the dbcore.signing_keys and
 *		dbcore.token_max_ttl settings, token verification (for the client
 *		scope's check hook) and dbcore.mint_client_token().
 *
 * Strict mode: when a superuser sets dbcore.signing_keys, a non-superuser
 * can enter a client scope only with a token signed by one of those keys;
 * the client scope's check hook (client_scope.c) verifies it, so every way
 * of setting dbcore.client_id is checked alike.
 *
 *	v1.<key id>.<client id, base64url>.<expiry, Unix seconds>.<mac, base64url>
 *
 * where mac = HMAC-SHA-256(secret of <key id>, everything before the last
 * dot).  base64url is unpadded.  A token is accepted when the key id is in
 * dbcore.signing_keys, the MAC matches, and the expiry lies in the future
 * but no more than dbcore.token_max_ttl seconds ahead.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hmac.h"
#include "common/sha2.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "client_token.h"
#include "compat.h"

#define KEY_ID_MAX_LEN			64
#define KEY_MIN_LEN				32
#define KEY_MAX_LEN				256
#define MAC_B64_LEN				43	/* base64url of 32 bytes, unpadded */

static char *signing_keys_setting = NULL;
static int	token_max_ttl = 3600;

/*
 * The "extra" of dbcore.signing_keys: the parsed keys.  NULL when the
 * setting is empty, that is when strict mode is off.
 */
typedef struct SigningKey
{
	char		kid[KEY_ID_MAX_LEN + 1];
	int			keylen;
	uint8		key[KEY_MAX_LEN];
} SigningKey;

typedef struct SigningKeys
{
	int			nkeys;
	SigningKey	keys[FLEXIBLE_ARRAY_MEMBER];
} SigningKeys;

static const SigningKeys *signing_keys = NULL;

/* ----------------------------------------------------------------
 * base64url (RFC 4648, section 5), without padding
 * ----------------------------------------------------------------
 */
static const char b64url_alphabet[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int
b64_value(char c, bool url_only)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-' || (!url_only && c == '+'))
		return 62;
	if (c == '_' || (!url_only && c == '/'))
		return 63;
	return -1;
}

/* Encodes len bytes; dst must hold 4 * ((len + 2) / 3) + 1 bytes. */
static void
b64url_encode(const uint8 *src, size_t len, char *dst)
{
	size_t		i;
	char	   *p = dst;

	for (i = 0; i + 2 < len; i += 3)
	{
		uint32		v = ((uint32) src[i] << 16) | ((uint32) src[i + 1] << 8) | src[i + 2];

		*p++ = b64url_alphabet[(v >> 18) & 63];
		*p++ = b64url_alphabet[(v >> 12) & 63];
		*p++ = b64url_alphabet[(v >> 6) & 63];
		*p++ = b64url_alphabet[v & 63];
	}
	if (len - i == 1)
	{
		uint32		v = (uint32) src[i] << 16;

		*p++ = b64url_alphabet[(v >> 18) & 63];
		*p++ = b64url_alphabet[(v >> 12) & 63];
	}
	else if (len - i == 2)
	{
		uint32		v = ((uint32) src[i] << 16) | ((uint32) src[i + 1] << 8);

		*p++ = b64url_alphabet[(v >> 18) & 63];
		*p++ = b64url_alphabet[(v >> 12) & 63];
		*p++ = b64url_alphabet[(v >> 6) & 63];
	}
	*p = '\0';
}

/*
 * Decodes len characters of base64 into dst (room for dstmax bytes).  With
 * url_only, only the base64url alphabet and no padding are accepted;
 * otherwise both alphabets and optional '=' padding.  Returns the number of
 * bytes, or -1 for invalid input (including non-zero trailing bits).
 */
static int
b64_decode(const char *src, size_t len, uint8 *dst, int dstmax, bool url_only)
{
	uint32		acc = 0;
	int			bits = 0;
	int			n = 0;
	size_t		i;

	if (!url_only)
		while (len > 0 && src[len - 1] == '=')
			len--;
	if (len % 4 == 1)
		return -1;
	for (i = 0; i < len; i++)
	{
		int			v = b64_value(src[i], url_only);

		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32) v;
		bits += 6;
		if (bits >= 8)
		{
			bits -= 8;
			if (n >= dstmax)
				return -1;
			dst[n++] = (uint8) ((acc >> bits) & 0xFF);
		}
	}
	/* the leftover bits must be zero, so that each token has one spelling */
	if ((acc & ((1U << bits) - 1)) != 0)
		return -1;
	return n;
}

/* Compares two equally long byte strings in constant time. */
static bool
equal_constant_time(const uint8 *a, const uint8 *b, size_t len)
{
	uint8		diff = 0;
	size_t		i;

	for (i = 0; i < len; i++)
		diff |= a[i] ^ b[i];
	return diff == 0;
}

static bool
valid_key_id(const char *kid, size_t len)
{
	size_t		i;

	if (len == 0 || len > KEY_ID_MAX_LEN)
		return false;
	for (i = 0; i < len; i++)
	{
		char		c = kid[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			  (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
	}
	return true;
}

/*
 * HMAC-SHA-256 of msg under key; on failure returns false and sets *errstr.
 */
static bool
compute_mac(const SigningKey *key, const char *msg, size_t len,
			uint8 *mac, const char **errstr)
{
	pg_hmac_ctx *ctx;

	/* The backend's HMAC contexts are tracked by the resource owner. */
	if (CurrentResourceOwner == NULL)
	{
		*errstr = "no resource owner";
		return false;
	}
	ctx = pg_hmac_create(PG_SHA256);
	if (ctx == NULL)
	{
		*errstr = "out of memory";
		return false;
	}
	if (pg_hmac_init(ctx, key->key, key->keylen) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) msg, len) < 0 ||
		pg_hmac_final(ctx, mac, PG_SHA256_DIGEST_LENGTH) < 0)
	{
		*errstr = pg_hmac_error(ctx);
		pg_hmac_free(ctx);
		return false;
	}
	pg_hmac_free(ctx);
	return true;
}

static const SigningKey *
find_signing_key(const char *kid)
{
	int			i;

	if (signing_keys == NULL)
		return NULL;
	for (i = 0; i < signing_keys->nkeys; i++)
		if (strcmp(signing_keys->keys[i].kid, kid) == 0)
			return &signing_keys->keys[i];
	return NULL;
}

/* ----------------------------------------------------------------
 * dbcore.signing_keys: "kid:secret[,kid:secret...]", secrets in base64
 * ----------------------------------------------------------------
 */
static bool
check_signing_keys(char **newval, void **extra, GucSource source)
{
	const char *p = *newval;
	SigningKeys *keys;
	int			maxkeys = 1;
	const char *c;

	*extra = NULL;
	if (p == NULL)
		return true;
	while (*p == ' ')
		p++;
	if (*p == '\0')
		return true;

	for (c = p; *c; c++)
		if (*c == ',')
			maxkeys++;
	keys = (SigningKeys *) dbcore_guc_malloc(offsetof(SigningKeys, keys) +
								  maxkeys * sizeof(SigningKey));
	if (keys == NULL)
	{
		GUC_check_errcode(ERRCODE_OUT_OF_MEMORY);
		GUC_check_errmsg("out of memory");
		return false;
	}
	memset(keys, 0, offsetof(SigningKeys, keys) + maxkeys * sizeof(SigningKey));

	/*
	 * Error messages never repeat the value: it holds secrets.  Entries are
	 * numbered from 1.
	 */
	for (;;)
	{
		const char *entry;
		const char *colon;
		const char *end;
		const char *secret_end;
		SigningKey *key = &keys->keys[keys->nkeys];
		int			i;
		int			entryno = keys->nkeys + 1;

		while (*p == ' ')
			p++;
		entry = p;
		end = strchr(entry, ',');
		if (end == NULL)
			end = entry + strlen(entry);
		colon = memchr(entry, ':', end - entry);
		secret_end = end;
		while (secret_end > entry && secret_end[-1] == ' ')
			secret_end--;

		if (entry == secret_end)
		{
			GUC_check_errmsg("invalid value for parameter \"dbcore.signing_keys\"");
			GUC_check_errdetail("Entry %d is empty.", entryno);
			dbcore_guc_free(keys);
			return false;
		}
		if (colon == NULL)
		{
			GUC_check_errmsg("invalid value for parameter \"dbcore.signing_keys\"");
			GUC_check_errdetail("Entry %d is not of the form key_id:secret.", entryno);
			GUC_check_errhint("Write comma-separated key_id:secret pairs; each secret is at least %d random bytes in base64, for example from \"openssl rand -base64 32\".",
							  KEY_MIN_LEN);
			dbcore_guc_free(keys);
			return false;
		}
		if (!valid_key_id(entry, colon - entry))
		{
			GUC_check_errmsg("invalid value for parameter \"dbcore.signing_keys\"");
			GUC_check_errdetail("The key id of entry %d is not 1 to %d letters, digits, \"-\" or \"_\".",
								entryno, KEY_ID_MAX_LEN);
			dbcore_guc_free(keys);
			return false;
		}
		memcpy(key->kid, entry, colon - entry);
		key->kid[colon - entry] = '\0';
		for (i = 0; i < keys->nkeys; i++)
		{
			if (strcmp(keys->keys[i].kid, key->kid) == 0)
			{
				GUC_check_errmsg("invalid value for parameter \"dbcore.signing_keys\"");
				GUC_check_errdetail("Key id \"%s\" appears more than once.", key->kid);
				dbcore_guc_free(keys);
				return false;
			}
		}
		key->keylen = b64_decode(colon + 1, secret_end - (colon + 1),
								 key->key, KEY_MAX_LEN, false);
		if (key->keylen < 0)
		{
			GUC_check_errmsg("invalid value for parameter \"dbcore.signing_keys\"");
			GUC_check_errdetail("The secret of key \"%s\" is not valid base64 of at most %d bytes.",
								key->kid, KEY_MAX_LEN);
			dbcore_guc_free(keys);
			return false;
		}
		if (key->keylen < KEY_MIN_LEN)
		{
			GUC_check_errmsg("invalid value for parameter \"dbcore.signing_keys\"");
			GUC_check_errdetail("The secret of key \"%s\" is %d bytes long; at least %d are required.",
								key->kid, key->keylen, KEY_MIN_LEN);
			GUC_check_errhint("Generate secrets with, for example, \"openssl rand -base64 32\".");
			dbcore_guc_free(keys);
			return false;
		}
		keys->nkeys++;
		if (*end != ',')
			break;
		p = end + 1;
	}

	*extra = keys;
	return true;
}

static void
assign_signing_keys(const char *newval, void *extra)
{
	signing_keys = (const SigningKeys *) extra;
}

/* ----------------------------------------------------------------
 * Client tokens
 * ----------------------------------------------------------------
 */

/* Reports a token problem from the check hook; always returns false. */
static bool
token_refused(int sqlerrcode, const char *msg, const char *detail,
			  const char *hint)
{
	GUC_check_errcode(sqlerrcode);
	GUC_check_errmsg("%s", msg);
	if (detail)
		GUC_check_errdetail("%s", detail);
	if (hint)
		GUC_check_errhint("%s", hint);
	return false;
}

/*
 * Parses (and unless a parallel worker restores it, verifies) a token.  On
 * success, *client_id is the client id it carries (palloc'd, NUL-free).
 */
bool
dbcore_verify_client_token(const char *token, bool verify, char **client_id)
{
	const char *parts[5];
	size_t		lens[5];
	const char *p = token;
	int			nparts = 0;
	uint8		idbuf[DBCORE_CLIENT_ID_MAX_LEN];
	int			idlen;
	int64		expires = 0;
	uint8		mac[PG_SHA256_DIGEST_LENGTH];
	uint8		expected[PG_SHA256_DIGEST_LENGTH];
	const SigningKey *key;
	char		kid[KEY_ID_MAX_LEN + 1];
	const char *errstr = NULL;
	pg_time_t	now;
	size_t		i;

	/* Split at the dots: exactly five parts. */
	for (;;)
	{
		const char *dot = strchr(p, '.');

		if (nparts == 5)
			return token_refused(ERRCODE_INVALID_PARAMETER_VALUE,
								 "malformed client token",
								 "A token has five parts separated by dots: v1.<key id>.<client id>.<expiry>.<signature>.",
								 NULL);
		parts[nparts] = p;
		lens[nparts] = dot ? (size_t) (dot - p) : strlen(p);
		nparts++;
		if (dot == NULL)
			break;
		p = dot + 1;
	}
	if (nparts != 5)
		return token_refused(ERRCODE_INVALID_PARAMETER_VALUE,
							 "malformed client token",
							 "A token has five parts separated by dots: v1.<key id>.<client id>.<expiry>.<signature>.",
							 NULL);
	if (!valid_key_id(parts[1], lens[1]))
		return token_refused(ERRCODE_INVALID_PARAMETER_VALUE,
							 "malformed client token",
							 psprintf("The key id is not 1 to %d letters, digits, \"-\" or \"_\".",
									  KEY_ID_MAX_LEN),
							 NULL);
	idlen = (lens[2] == 0) ? -1 :
		b64_decode(parts[2], lens[2], idbuf, sizeof(idbuf) - 1, true);
	if (idlen <= 0 || memchr(idbuf, '\0', idlen) != NULL ||
		!pg_verifymbstr((const char *) idbuf, idlen, true))
		return token_refused(ERRCODE_INVALID_PARAMETER_VALUE,
							 "malformed client token",
							 "The client id is not a non-empty string in base64url.",
							 NULL);
	if (lens[3] == 0 || lens[3] > 18)
		return token_refused(ERRCODE_INVALID_PARAMETER_VALUE,
							 "malformed client token",
							 "The expiry is not a time in Unix seconds.",
							 NULL);
	for (i = 0; i < lens[3]; i++)
	{
		if (parts[3][i] < '0' || parts[3][i] > '9')
			return token_refused(ERRCODE_INVALID_PARAMETER_VALUE,
								 "malformed client token",
								 "The expiry is not a time in Unix seconds.",
								 NULL);
		expires = expires * 10 + (parts[3][i] - '0');
	}
	if (lens[4] != MAC_B64_LEN ||
		b64_decode(parts[4], lens[4], mac, sizeof(mac), true) != PG_SHA256_DIGEST_LENGTH)
		return token_refused(ERRCODE_INVALID_PARAMETER_VALUE,
							 "malformed client token",
							 psprintf("The signature is not %d characters of base64url.",
									  MAC_B64_LEN),
							 NULL);

	*client_id = palloc(idlen + 1);
	memcpy(*client_id, idbuf, idlen);
	(*client_id)[idlen] = '\0';

	if (!verify)
		return true;

	if (signing_keys == NULL)
		return token_refused(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
							 "client tokens cannot be verified because dbcore.signing_keys is not set",
							 NULL,
							 "A superuser sets dbcore.signing_keys to switch strict mode on; until then, set the plain client id.");

	memcpy(kid, parts[1], lens[1]);
	kid[lens[1]] = '\0';
	key = find_signing_key(kid);
	if (key == NULL)
	{
		GUC_check_errcode(ERRCODE_INSUFFICIENT_PRIVILEGE);
		GUC_check_errmsg("client token is signed with unknown key \"%s\"", kid);
		GUC_check_errhint("The key may have been rotated out of dbcore.signing_keys: mint a new token.");
		return false;
	}

	if (!compute_mac(key, token, parts[4] - 1 - token, expected, &errstr))
	{
		GUC_check_errcode(ERRCODE_INTERNAL_ERROR);
		GUC_check_errmsg("could not compute HMAC-SHA-256 of client token: %s", errstr);
		return false;
	}
	if (!equal_constant_time(mac, expected, PG_SHA256_DIGEST_LENGTH))
	{
		GUC_check_errcode(ERRCODE_INSUFFICIENT_PRIVILEGE);
		GUC_check_errmsg("invalid client token signature");
		GUC_check_errdetail("The token was altered, or not signed with key \"%s\".", kid);
		return false;
	}

	now = timestamptz_to_time_t(GetCurrentTimestamp());
	if (expires <= now)
		return token_refused(ERRCODE_INSUFFICIENT_PRIVILEGE,
							 "client token has expired", NULL,
							 "Mint a new token.");
	if (expires - now > token_max_ttl)
	{
		GUC_check_errcode(ERRCODE_INSUFFICIENT_PRIVILEGE);
		GUC_check_errmsg("client token lifetime exceeds dbcore.token_max_ttl");
		GUC_check_errdetail("Tokens are accepted only while they expire within %d seconds.",
							token_max_ttl);
		GUC_check_errhint("Mint short-lived tokens, one per transaction or request.");
		return false;
	}
	return true;
}

/* Is strict mode on (dbcore.signing_keys set)? */
bool
dbcore_strict_mode(void)
{
	return signing_keys != NULL;
}

/*
 * dbcore.mint_client_token(client_id text, ttl interval, key_id text)
 * RETURNS text
 *
 * Superusers only (and not granted to anyone else): applications mint their
 * tokens themselves, with the same secret.
 */
PG_FUNCTION_INFO_V1(dbcore_mint_client_token);
Datum
dbcore_mint_client_token(PG_FUNCTION_ARGS)
{
	text	   *idtext;
	Interval   *ttl;
	const SigningKey *key;
	int64		ttl_secs;
	int64		expires;
	size_t		idlen;
	char	   *idb64;
	StringInfoData buf;
	uint8		mac[PG_SHA256_DIGEST_LENGTH];
	char		macb64[MAC_B64_LEN + 2];
	const char *errstr = NULL;

	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be superuser to mint client tokens"),
				 errhint("Applications mint tokens themselves with the shared secret; see the token format in dbcore's documentation.")));
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("client id and lifetime must not be null")));
	idtext = PG_GETARG_TEXT_PP(0);
	ttl = PG_GETARG_INTERVAL_P(1);
	idlen = VARSIZE_ANY_EXHDR(idtext);
	if (idlen == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("client id must not be empty")));
	if (memchr(VARDATA_ANY(idtext), '\0', idlen) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("client id must not contain NUL bytes")));

	ttl_secs = (int64) ttl->month * DAYS_PER_MONTH * SECS_PER_DAY +
		(int64) ttl->day * SECS_PER_DAY + ttl->time / USECS_PER_SEC;
	if (ttl_secs <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("token lifetime must be at least one second")));
	if (ttl_secs > token_max_ttl)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("token lifetime exceeds dbcore.token_max_ttl"),
				 errdetail("dbcore.token_max_ttl is %d seconds.", token_max_ttl),
				 errhint("Mint a shorter-lived token, or raise dbcore.token_max_ttl.")));

	if (signing_keys == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot mint client tokens because dbcore.signing_keys is not set")));
	if (PG_ARGISNULL(2))
		key = &signing_keys->keys[0];
	else
	{
		char	   *kid = text_to_cstring(PG_GETARG_TEXT_PP(2));

		key = find_signing_key(kid);
		if (key == NULL && !valid_key_id(kid, strlen(kid)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid signing key id"),
					 errdetail("A key id is 1 to %d characters A-Z, a-z, 0-9, \"-\" and \"_\".",
							   KEY_ID_MAX_LEN),
					 errhint("Name a key id from dbcore.signing_keys, or leave key_id out to use the first key.")));
		if (key == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("signing key \"%s\" does not exist", kid),
					 errhint("Name a key id from dbcore.signing_keys, or leave key_id out to use the first key.")));
	}

	expires = (int64) timestamptz_to_time_t(GetCurrentTimestamp()) + ttl_secs;
	idb64 = palloc(4 * ((idlen + 2) / 3) + 1);
	b64url_encode((const uint8 *) VARDATA_ANY(idtext), idlen, idb64);

	initStringInfo(&buf);
	appendStringInfo(&buf, "%s%s.%s." INT64_FORMAT, TOKEN_PREFIX, key->kid,
					 idb64, expires);
	if (!compute_mac(key, buf.data, buf.len, mac, &errstr))
		elog(ERROR, "could not compute HMAC-SHA-256 of client token: %s", errstr);
	b64url_encode(mac, sizeof(mac), macb64);
	appendStringInfo(&buf, ".%s", macb64);

	if (buf.len > DBCORE_CLIENT_ID_MAX_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("client id is too long for a client token"),
				 errdetail("Tokens are at most %d bytes long.", DBCORE_CLIENT_ID_MAX_LEN)));

	PG_RETURN_TEXT_P(cstring_to_text_with_len(buf.data, buf.len));
}

void
dbcore_client_token_init(void)
{
	DefineCustomStringVariable("dbcore.signing_keys",
							   "Keys that sign client tokens; when set, non-superusers can enter a client scope only with a signed token.",
							   "Comma-separated key_id:secret pairs, each secret at least " CppAsString2(KEY_MIN_LEN) " bytes in base64.",
							   &signing_keys_setting,
							   "",
							   PGC_SUSET,
							   GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   check_signing_keys, assign_signing_keys, NULL);

	DefineCustomIntVariable("dbcore.token_max_ttl",
							"Longest lifetime a client token may have left when it is used.",
							"Tokens that expire later than this many seconds from now are refused.",
							&token_max_ttl,
							3600, 1, 7 * 86400,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);
}
