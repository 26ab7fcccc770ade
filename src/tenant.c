/*-------------------------------------------------------------------------
 *
 * tenant.c
 *		Tenant scoping: the current client, the row and TRUNCATE guards of
 *		tenant-scoped tables and the registry of those tables.
 *
 * The setting dbcore.client_id is the single source of truth for the
 * current client.  SET LOCAL, set_config() and dbcore.set_client() all set
 * it, and its check hook decides what may be set:
 *
 *	- only values set in a session (SET, SET LOCAL, set_config(), a
 *	  function's SET clause) are accepted; role and database defaults, the
 *	  configuration file and connection startup options are refused, so a
 *	  scope can never be planted where it outlives a transaction;
 *	- a value survives its transaction only in session mode
 *	  (dbcore.session_scope): otherwise a pre-commit callback clears a scope
 *	  that a plain SET left behind, and an aborted transaction rolls it
 *	  back anyway.
 *
 * The check hook also works out the client id the value stands for and
 * hands it to the assign hook as the setting's "extra"; the assign hook
 * drops the parsed forms cached below, so dbcore.current_client_id() and its
 * siblings parse a new value once, then return the cached result.
 *
 * Strict mode: when a superuser sets dbcore.signing_keys, a non-superuser
 * can enter a scope only with a token signed by one of those keys (see
 * "Client tokens" below); the check hook verifies it, so every way of
 * setting dbcore.client_id is checked alike.
 *
 * The row guard, dbcore.tenant_row_guard(), is a BEFORE INSERT OR UPDATE
 * row trigger: it stamps the current client on inserted rows whose client
 * column is NULL, refuses rows naming another client and refuses any change
 * of the column.  Superusers and roles with BYPASSRLS (PostgreSQL's own
 * "system-level authorization" for row level security) pass.  The column is
 * looked up once per trigger, the role once per statement.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/parallel.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "nodes/parsenodes.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "common/hmac.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/guc_tables.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "compat.h"
#include "dbcore.h"

#define CLIENT_ID_GUC			"dbcore.client_id"
#define CLIENT_ID_MAX_LEN		1024
#define REGISTRY_TABLE			"tenant_tables"

/* ----------------------------------------------------------------
 * Settings
 * ----------------------------------------------------------------
 */
static char *client_id_setting = NULL;
static bool session_scope = false;
static char *signing_keys_setting = NULL;
static int	token_max_ttl = 3600;

#define TOKEN_PREFIX			"v1."
#define TOKEN_PREFIX_LEN		3
#define KEY_ID_MAX_LEN			64
#define KEY_MIN_LEN				32
#define KEY_MAX_LEN				256
#define MAC_B64_LEN				43	/* base64url of 32 bytes, unpadded */

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

/*
 * The "extra" of dbcore.client_id: the client id a non-empty value stands
 * for.  Allocated with malloc(); the GUC machinery frees it.
 */
typedef struct ClientScopeExtra
{
	int			len;			/* strlen(id) */
	char		id[FLEXIBLE_ARRAY_MEMBER];
} ClientScopeExtra;

/*
 * The current client and its parsed forms.  "id" points into the extra of
 * the active value (NULL: no scope); the parsed forms are filled in on
 * first use and dropped by the assign hook whenever the value changes
 * (including when a transaction or subtransaction rolls it back).
 */
typedef struct ClientScope
{
	const char *id;
	bool		uuid_parsed;
	bool		uuid_ok;
	pg_uuid_t	uuid;
	bool		int8_parsed;
	bool		int8_ok;
	int64		int8;
} ClientScope;

static ClientScope scope;

/*
 * Guard rails: for each DDL command being run (they nest), the problems the
 * scoped tables had when it started, so that its end can tell which ones it
 * introduced.  Allocated in TopTransactionContext; forgotten at the end of
 * the transaction, and frames of an aborted subtransaction are dropped.
 */
typedef struct DdlFrame
{
	int			nestlevel;		/* transaction nesting level at the start */
	bool		check;			/* false: the role has system authorization */
	List	   *problems;		/* "relid/check name" strings */
} DdlFrame;

static List *ddl_frames = NIL;

/* True while dbcore's own event trigger code runs DDL or queries. */
static bool in_guard_rails = false;

/* ----------------------------------------------------------------
 * Parsing client ids
 * ----------------------------------------------------------------
 */
static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Accepts what uuid_in() accepts: 32 hex digits, optionally in braces, with
 * an optional hyphen after any group of four digits.  Unlike uuid_in() it
 * reports failure instead of raising an error.
 */
static bool
parse_uuid(const char *s, pg_uuid_t *out)
{
	const char *p = s;
	bool		braces = false;
	int			i;

	if (*p == '{')
	{
		braces = true;
		p++;
	}
	for (i = 0; i < UUID_LEN; i++)
	{
		int			hi;
		int			lo;

		hi = hex_value(p[0]);
		if (hi < 0)
			return false;
		lo = hex_value(p[1]);
		if (lo < 0)
			return false;
		out->data[i] = (unsigned char) ((hi << 4) | lo);
		p += 2;
		if (*p == '-' && i % 2 == 1 && i < UUID_LEN - 1)
			p++;
	}
	if (braces)
	{
		if (*p != '}')
			return false;
		p++;
	}
	return *p == '\0';
}

/* An optionally signed decimal integer, nothing else; no error on failure. */
static bool
parse_int64(const char *s, int64 *out)
{
	const char *p = s;
	bool		neg = false;
	uint64		acc = 0;

	if (*p == '-' || *p == '+')
	{
		neg = (*p == '-');
		p++;
	}
	if (*p < '0' || *p > '9')
		return false;
	while (*p >= '0' && *p <= '9')
	{
		int			digit = *p - '0';

		if (acc > (PG_UINT64_MAX - digit) / 10)
			return false;
		acc = acc * 10 + digit;
		p++;
	}
	if (*p != '\0')
		return false;
	if (neg)
	{
		if (acc > (uint64) PG_INT64_MAX + 1)
			return false;
		*out = (acc == (uint64) PG_INT64_MAX + 1) ? PG_INT64_MIN : -(int64) acc;
	}
	else
	{
		if (acc > (uint64) PG_INT64_MAX)
			return false;
		*out = (int64) acc;
	}
	return true;
}

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
	keys = (SigningKeys *) malloc(offsetof(SigningKeys, keys) +
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
			free(keys);
			return false;
		}
		if (colon == NULL)
		{
			GUC_check_errmsg("invalid value for parameter \"dbcore.signing_keys\"");
			GUC_check_errdetail("Entry %d is not of the form key_id:secret.", entryno);
			GUC_check_errhint("Write comma-separated key_id:secret pairs; each secret is at least %d random bytes in base64, for example from \"openssl rand -base64 32\".",
							  KEY_MIN_LEN);
			free(keys);
			return false;
		}
		if (!valid_key_id(entry, colon - entry))
		{
			GUC_check_errmsg("invalid value for parameter \"dbcore.signing_keys\"");
			GUC_check_errdetail("The key id of entry %d is not 1 to %d letters, digits, \"-\" or \"_\".",
								entryno, KEY_ID_MAX_LEN);
			free(keys);
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
				free(keys);
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
			free(keys);
			return false;
		}
		if (key->keylen < KEY_MIN_LEN)
		{
			GUC_check_errmsg("invalid value for parameter \"dbcore.signing_keys\"");
			GUC_check_errdetail("The secret of key \"%s\" is %d bytes long; at least %d are required.",
								key->kid, key->keylen, KEY_MIN_LEN);
			GUC_check_errhint("Generate secrets with, for example, \"openssl rand -base64 32\".");
			free(keys);
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
 *
 *	v1.<key id>.<client id, base64url>.<expiry, Unix seconds>.<mac, base64url>
 *
 * where mac = HMAC-SHA-256(secret of <key id>, everything before the last
 * dot).  base64url is unpadded.  A token is accepted when the key id is in
 * dbcore.signing_keys, the MAC matches, and the expiry lies in the future
 * but no more than dbcore.token_max_ttl seconds ahead.
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
static bool
verify_client_token(const char *token, bool verify, char **client_id)
{
	const char *parts[5];
	size_t		lens[5];
	const char *p = token;
	int			nparts = 0;
	uint8		idbuf[CLIENT_ID_MAX_LEN];
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
							 "The key id is not 1 to 64 letters, digits, \"-\" or \"_\".",
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
							 "The signature is not 43 characters of base64url.",
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

/* ----------------------------------------------------------------
 * dbcore.client_id: check and assign hooks
 * ----------------------------------------------------------------
 */

/* Where a refused value came from, in words for the error message. */
static const char *
client_id_source_words(GucSource source)
{
	switch (source)
	{
		case PGC_S_ENV_VAR:
		case PGC_S_FILE:
		case PGC_S_ARGV:
		case PGC_S_GLOBAL:
			return "in the server configuration";
		case PGC_S_DATABASE:
		case PGC_S_USER:
		case PGC_S_DATABASE_USER:
			return "as a role or database default";
		case PGC_S_CLIENT:
			return "in the connection's startup options";
		case PGC_S_TEST:
			return "as a role, database or function default";
		default:
			return "from this source";
	}
}

static bool
check_client_id(char **newval, void **extra, GucSource source)
{
	const char *value = *newval;
	ClientScopeExtra *result;
	size_t		len;

	*extra = NULL;
	if (value == NULL || value[0] == '\0')
		return true;

	/*
	 * A parallel worker restores its leader's value, which the leader has
	 * already checked.
	 */
	if (!InitializingParallelWorker && source != PGC_S_SESSION)
	{
		GUC_check_errcode(ERRCODE_INSUFFICIENT_PRIVILEGE);
		GUC_check_errmsg("%s cannot be set %s", CLIENT_ID_GUC,
						 client_id_source_words(source));
		GUC_check_errdetail("A client scope must not outlive the transaction that sets it.");
		GUC_check_errhint("Set the client in each transaction with dbcore.set_client() or SET LOCAL %s.",
						  CLIENT_ID_GUC);
		return false;
	}

	len = strlen(value);
	if (len > CLIENT_ID_MAX_LEN)
	{
		GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
		GUC_check_errmsg("value for %s is too long", CLIENT_ID_GUC);
		GUC_check_errdetail("At most %d bytes are accepted.", CLIENT_ID_MAX_LEN);
		return false;
	}

	if (strncmp(value, TOKEN_PREFIX, TOKEN_PREFIX_LEN) == 0)
	{
		char	   *id;

		if (!verify_client_token(value, !InitializingParallelWorker, &id))
			return false;
		value = id;
		len = strlen(id);
	}
	else if (signing_keys != NULL && !InitializingParallelWorker && !superuser())
	{
		GUC_check_errcode(ERRCODE_INSUFFICIENT_PRIVILEGE);
		GUC_check_errmsg("a signed client token is required to set %s", CLIENT_ID_GUC);
		GUC_check_errdetail("Strict mode is on (dbcore.signing_keys is set): only superusers may set a plain client id.");
		GUC_check_errhint("Pass a token minted by the application server, for example SELECT dbcore.set_client_token($1).");
		return false;
	}

	result = (ClientScopeExtra *) malloc(offsetof(ClientScopeExtra, id) + len + 1);
	if (result == NULL)
	{
		GUC_check_errcode(ERRCODE_OUT_OF_MEMORY);
		GUC_check_errmsg("out of memory");
		return false;
	}
	result->len = (int) len;
	memcpy(result->id, value, len + 1);
	*extra = result;
	return true;
}

static void
assign_client_id(const char *newval, void *extra)
{
	ClientScopeExtra *e = (ClientScopeExtra *) extra;

	scope.id = (e != NULL) ? e->id : NULL;
	scope.uuid_parsed = false;
	scope.int8_parsed = false;
}

/*
 * Set dbcore.client_id at session level, outside of any check on the
 * caller's behalf (the empty value is always accepted).
 */
static void
clear_session_client_id(void)
{
	(void) set_config_option(CLIENT_ID_GUC, "",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SET, true, 0, false);
}

/*
 * dbcore.client_id's own entry in PostgreSQL's table of settings (found once;
 * the entry itself never moves), for its stack of values set in the current
 * transaction.
 */
static struct config_generic *client_id_gconf = NULL;

static struct config_generic *
client_id_guc(void)
{
	if (client_id_gconf == NULL)
	{
		struct config_generic **vars = get_guc_variables();
		int			nvars = GetNumConfigOptions();
		int			i;

		for (i = 0; i < nvars; i++)
		{
			if (strcmp(vars[i]->name, CLIENT_ID_GUC) == 0)
			{
				client_id_gconf = vars[i];
				break;
			}
		}
		if (client_id_gconf == NULL)
			elog(ERROR, "setting \"%s\" is not defined", CLIENT_ID_GUC);
	}
	return client_id_gconf;
}

/*
 * Would the value in force after this transaction commits be empty without
 * our help?  True when the only change in the transaction was SET LOCAL (or
 * set_client) over an empty session value: committing pops it.  A plain SET
 * in the transaction, or a value from before it, would survive the commit.
 */
static bool
scope_ends_with_transaction(void)
{
	GucStack   *stack = client_id_guc()->stack;
	const char *prior;

	if (stack == NULL || stack->prev != NULL || stack->state != GUC_LOCAL)
		return false;
	prior = stack->prior.val.stringval;
	return prior == NULL || prior[0] == '\0';
}

/*
 * Unless session mode is on, a scope must not outlive its transaction: clear
 * it just before commit.  (SET LOCAL values would vanish anyway; this is for
 * a plain SET.  Aborts roll the setting back by themselves.)
 */
static void
tenant_xact_callback(XactEvent event, void *arg)
{
	/*
	 * A parallel worker commits the transaction in which it restores its
	 * leader's settings: that must not clear the scope it just restored.
	 */
	if (IsParallelWorker())
		return;
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			if (scope.id != NULL && !session_scope &&
				!scope_ends_with_transaction())
				clear_session_client_id();
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
			ddl_frames = NIL;	/* freed with TopTransactionContext */
			in_guard_rails = false;
			break;
		default:
			break;
	}
}

/* An aborted subtransaction takes the DDL frames it pushed with it. */
static void
tenant_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						SubTransactionId parentSubid, void *arg)
{
	int			level;

	if (event != SUBXACT_EVENT_ABORT_SUB)
		return;
	level = GetCurrentTransactionNestLevel();
	while (ddl_frames != NIL &&
		   ((DdlFrame *) llast(ddl_frames))->nestlevel >= level)
		ddl_frames = list_delete_last(ddl_frames);
}

/*
 * When the library is loaded after a plain SET has already been committed
 * (the value was a placeholder until now), the scope is a leftover from an
 * earlier transaction: clear it.  A value set in the current transaction
 * has an entry on the setting's stack.
 */
static void
clear_stale_placeholder_scope(void)
{
	if (scope.id == NULL || session_scope)
		return;
	if (client_id_guc()->stack == NULL)
		clear_session_client_id();
}

static const char *scope_in_force(void);

/*
 * SHOW, current_setting() and pg_settings report the scope in force: a
 * value left over from an earlier transaction (see scope_in_force) shows as
 * empty, so code that reads the setting directly cannot trust a stale one.
 */
static const char *
show_client_id(void)
{
	if (client_id_setting == NULL || client_id_setting[0] == '\0' ||
		scope_in_force() == NULL)
		return "";
	return client_id_setting;
}

void
dbcore_tenant_init(void)
{
	DefineCustomBoolVariable("dbcore.session_scope",
							 "Lets a client scope set with a plain SET last for the rest of the session.",
							 "Off by default: a scope then ends with its transaction, so a connection pooler cannot hand it to the next client.",
							 &session_scope,
							 false,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	/* Strict mode must be known before a client id is checked. */
	DefineCustomStringVariable("dbcore.signing_keys",
							   "Keys that sign client tokens; when set, non-superusers can enter a client scope only with a signed token.",
							   "Comma-separated key_id:secret pairs, each secret at least 32 bytes in base64.",
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

	DefineCustomStringVariable(CLIENT_ID_GUC,
							   "The current client: tenant-scoped tables show and accept only its rows.",
							   "Set it per transaction with dbcore.set_client() or SET LOCAL.",
							   &client_id_setting,
							   "",
							   PGC_USERSET,
							   GUC_NOT_IN_SAMPLE,
							   check_client_id, assign_client_id, show_client_id);

	RegisterXactCallback(tenant_xact_callback, NULL);
	RegisterSubXactCallback(tenant_subxact_callback, NULL);

	clear_stale_placeholder_scope();

	dbcore_scope_plan_init();
}

/* ----------------------------------------------------------------
 * Setting the client
 * ----------------------------------------------------------------
 */

/* SET LOCAL dbcore.client_id, with the caller's privileges. */
static void
set_client_local(const char *value)
{
	(void) set_config_option(CLIENT_ID_GUC, value,
							 superuser() ? PGC_SUSET : PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_LOCAL, true, 0, false);
}

static void
reject_null_client(FunctionCallInfo fcinfo, const char *funcname)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("client id must not be null"),
				 errhint("Pass the client of this transaction to %s(); to leave the scope, end the transaction.",
						 funcname)));
}

PG_FUNCTION_INFO_V1(dbcore_set_client_uuid);
Datum
dbcore_set_client_uuid(PG_FUNCTION_ARGS)
{
	static const char hex[] = "0123456789abcdef";
	const pg_uuid_t *u;
	char		buf[UUID_LEN * 2 + 5];
	char	   *p = buf;
	int			i;

	reject_null_client(fcinfo, "dbcore.set_client");
	/* uuid_out's canonical form, without its fmgr call and palloc */
	u = PG_GETARG_UUID_P(0);
	for (i = 0; i < UUID_LEN; i++)
	{
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[u->data[i] >> 4];
		*p++ = hex[u->data[i] & 0x0F];
	}
	*p = '\0';
	set_client_local(buf);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(dbcore_set_client_bigint);
Datum
dbcore_set_client_bigint(PG_FUNCTION_ARGS)
{
	reject_null_client(fcinfo, "dbcore.set_client");
	set_client_local(psprintf(INT64_FORMAT, PG_GETARG_INT64(0)));
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(dbcore_set_client_text);
Datum
dbcore_set_client_text(PG_FUNCTION_ARGS)
{
	char	   *value;

	reject_null_client(fcinfo, "dbcore.set_client");
	value = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (value[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("client id must not be empty")));
	set_client_local(value);
	PG_RETURN_VOID();
}

/*
 * dbcore.set_client_token(token text) RETURNS text
 *
 * Enters the scope a signed token names, for the rest of the transaction,
 * and returns its client id.
 */
PG_FUNCTION_INFO_V1(dbcore_set_client_token);
Datum
dbcore_set_client_token(PG_FUNCTION_ARGS)
{
	char	   *token;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("client token must not be null")));
	token = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (strncmp(token, TOKEN_PREFIX, TOKEN_PREFIX_LEN) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("malformed client token"),
				 errdetail("A token starts with \"%s\".", TOKEN_PREFIX),
				 errhint("Use dbcore.set_client() for a plain client id.")));
	set_client_local(token);
	PG_RETURN_TEXT_P(cstring_to_text(scope.id));
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
					 errdetail("A key id is 1 to 64 characters A-Z, a-z, 0-9, \"-\" and \"_\"."),
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
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute HMAC-SHA-256 of client token: %s", errstr)));
	b64url_encode(mac, sizeof(mac), macb64);
	appendStringInfo(&buf, ".%s", macb64);

	if (buf.len > CLIENT_ID_MAX_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("client id is too long for a client token"),
				 errdetail("Tokens are at most %d bytes long.", CLIENT_ID_MAX_LEN)));

	PG_RETURN_TEXT_P(cstring_to_text_with_len(buf.data, buf.len));
}

/* ----------------------------------------------------------------
 * The current client
 * ----------------------------------------------------------------
 */
/* The dbcore.client_id entry of the GUC table, found once. */

/*
 * The client scope in force, or NULL.
 *
 * A value that was not set in the current transaction has no entry on the
 * setting's stack.  Once the library is loaded, every session-level value
 * is cleared at commit, so such a value can only be a leftover: one set
 * with a plain SET before the library was loaded, and restored by the
 * rollback of a transaction that tried to clear it.  It counts as no scope,
 * unless session mode is on.  Deciding this on every read, rather than
 * clearing the value once, cannot be undone by an abort.  A parallel worker
 * restores its leader's value in a transaction of its own, so it has no
 * stack entry either; the leader has checked it.
 */
static const char *
scope_in_force(void)
{
	if (scope.id == NULL || session_scope || IsParallelWorker())
		return scope.id;
	return client_id_guc()->stack != NULL ? scope.id : NULL;
}

static const char *
require_scope(void)
{
	if (scope_in_force() == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("no client scope is set"),
				 errdetail("Tenant-scoped data can be used only within a client scope."),
				 errhint("Call dbcore.set_client() (or SET LOCAL %s) in this transaction first.",
						 CLIENT_ID_GUC)));
	return scope.id;
}

static void
report_bad_client_id(const char *id, const char *typname)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("current client id \"%s\" is not a valid %s", id, typname),
			 errhint("The client column is of type %s: set %s to a value of that type.",
					 typname, CLIENT_ID_GUC)));
}

static const pg_uuid_t *
current_client_uuid(void)
{
	const char *id = require_scope();

	if (!scope.uuid_parsed)
	{
		scope.uuid_ok = parse_uuid(id, &scope.uuid);
		scope.uuid_parsed = true;
	}
	if (!scope.uuid_ok)
		report_bad_client_id(id, "uuid");
	return &scope.uuid;
}

static int64
current_client_int8(void)
{
	const char *id = require_scope();

	if (!scope.int8_parsed)
	{
		scope.int8_ok = parse_int64(id, &scope.int8);
		scope.int8_parsed = true;
	}
	if (!scope.int8_ok)
		report_bad_client_id(id, "bigint");
	return scope.int8;
}

static int32
current_client_int4(void)
{
	const char *id = require_scope();
	int64		v;

	if (!scope.int8_parsed)
	{
		scope.int8_ok = parse_int64(id, &scope.int8);
		scope.int8_parsed = true;
	}
	v = scope.int8;
	if (!scope.int8_ok || v < PG_INT32_MIN || v > PG_INT32_MAX)
		report_bad_client_id(id, "integer");
	return (int32) v;
}

PG_FUNCTION_INFO_V1(dbcore_current_client_id);
Datum
dbcore_current_client_id(PG_FUNCTION_ARGS)
{
	const pg_uuid_t *u = current_client_uuid();
	pg_uuid_t  *result = (pg_uuid_t *) palloc(sizeof(pg_uuid_t));

	memcpy(result, u, sizeof(pg_uuid_t));
	PG_RETURN_UUID_P(result);
}

PG_FUNCTION_INFO_V1(dbcore_current_client_id_text);
Datum
dbcore_current_client_id_text(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(require_scope()));
}

PG_FUNCTION_INFO_V1(dbcore_current_client_id_bigint);
Datum
dbcore_current_client_id_bigint(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(current_client_int8());
}

PG_FUNCTION_INFO_V1(dbcore_current_client_id_int);
Datum
dbcore_current_client_id_int(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(current_client_int4());
}

/* ----------------------------------------------------------------
 * The row guard
 * ----------------------------------------------------------------
 */

/* What the trigger needs to know about its table; hash key: tgoid. */
typedef struct RowGuardState
{
	Oid			tgoid;
	Oid			relid;
	bool		valid;
	int			attnum;
	Oid			atttypid;
} RowGuardState;

/* Per statement (the trigger's FmgrInfo): the state and the role check. */
typedef struct RowGuardCall
{
	RowGuardState *state;
	Oid			userid;			/* InvalidOid: not checked yet */
	bool		system;
} RowGuardCall;

static HTAB *row_guard_states = NULL;

static void
row_guard_relcache_callback(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	RowGuardState *state;

	hash_seq_init(&status, row_guard_states);
	while ((state = (RowGuardState *) hash_seq_search(&status)) != NULL)
	{
		if (relid == InvalidOid || state->relid == relid)
			state->valid = false;
	}
}

static bool
client_type_supported(Oid typid)
{
	return typid == UUIDOID || typid == INT8OID || typid == INT4OID ||
		typid == TEXTOID;
}

static void
row_guard_compute_state(RowGuardState *state, TriggerData *trigdata)
{
	Trigger    *trigger = trigdata->tg_trigger;
	Relation	rel = trigdata->tg_relation;
	TupleDesc	tupdesc = RelationGetDescr(rel);
	Form_pg_attribute attr;
	const char *colname;

	state->valid = false;
	state->relid = RelationGetRelid(rel);

	if (trigger->tgnargs != 1)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trigger \"%s\" on relation \"%s\" must pass exactly one argument to dbcore.tenant_row_guard()",
						trigger->tgname, RelationGetRelationName(rel)),
				 errhint("Call dbcore.enable_tenant_scoping() to create the trigger.")));
	colname = trigger->tgargs[0];

	attr = dbcore_find_column(tupdesc, colname);
	if (attr == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						colname, RelationGetRelationName(rel)),
				 errdetail("Trigger \"%s\" guards that column as the client column.",
						   trigger->tgname)));
	if (!client_type_supported(attr->atttypid))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("client column \"%s\" of relation \"%s\" is of type %s",
						colname, RelationGetRelationName(rel),
						format_type_be(attr->atttypid)),
				 errdetail("Client columns must be of type uuid, bigint, integer or text.")));

	state->attnum = attr->attnum;
	state->atttypid = attr->atttypid;
	state->valid = true;
}

static RowGuardCall *
row_guard_get_call(FunctionCallInfo fcinfo, TriggerData *trigdata)
{
	Trigger    *trigger = trigdata->tg_trigger;
	RowGuardCall *call = (RowGuardCall *) fcinfo->flinfo->fn_extra;
	RowGuardState *state;
	TupleDesc	tupdesc = RelationGetDescr(trigdata->tg_relation);
	Oid			userid = GetUserId();

	if (call == NULL)
	{
		call = (RowGuardCall *) MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt,
													   sizeof(RowGuardCall));
		fcinfo->flinfo->fn_extra = call;
	}

	if (call->state == NULL || call->state->tgoid != trigger->tgoid)
	{
		bool		found;

		if (row_guard_states == NULL)
		{
			HASHCTL		ctl;

			ctl.keysize = sizeof(Oid);
			ctl.entrysize = sizeof(RowGuardState);
			ctl.hcxt = TopMemoryContext;
			row_guard_states = hash_create("dbcore tenant row guard states", 32,
										   &ctl,
										   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
			CacheRegisterRelcacheCallback(row_guard_relcache_callback, (Datum) 0);
		}
		call->state = (RowGuardState *) hash_search(row_guard_states,
													&trigger->tgoid,
													HASH_ENTER, &found);
		if (!found)
			call->state->valid = false;
	}
	state = call->state;

	if (!state->valid ||
		state->relid != RelationGetRelid(trigdata->tg_relation) ||
		state->attnum > tupdesc->natts ||
		TupleDescAttr(tupdesc, state->attnum - 1)->attisdropped ||
		TupleDescAttr(tupdesc, state->attnum - 1)->atttypid != state->atttypid)
		row_guard_compute_state(state, trigdata);

	/* The role check, once per statement and role. */
	if (call->userid != userid)
	{
		call->system = dbcore_has_system_authorization(userid);
		call->userid = userid;
	}
	return call;
}

/*
 * The current client as a Datum of the client column's type (uuid, bigint,
 * integer; text for any other), with the errors of current_client_id().
 */
Datum
dbcore_current_client_datum(Oid typid)
{
	switch (typid)
	{
		case UUIDOID:
			{
				pg_uuid_t  *u = (pg_uuid_t *) palloc(sizeof(pg_uuid_t));

				memcpy(u, current_client_uuid(), sizeof(pg_uuid_t));
				return UUIDPGetDatum(u);
			}
		case INT8OID:
			return Int64GetDatum(current_client_int8());
		case INT4OID:
			return Int32GetDatum(current_client_int4());
		default:
			return PointerGetDatum(cstring_to_text(require_scope()));
	}
}

/* Is a (non-null) value of the client column the current client? */
static bool
is_current_client(Datum value, Oid typid)
{
	switch (typid)
	{
		case UUIDOID:
			return memcmp(DatumGetUUIDP(value), current_client_uuid(),
						  sizeof(pg_uuid_t)) == 0;
		case INT8OID:
			return DatumGetInt64(value) == current_client_int8();
		case INT4OID:
			return DatumGetInt32(value) == current_client_int4();
		default:
			{
				text	   *t = DatumGetTextPP(value);
				const char *id = require_scope();
				size_t		len = strlen(id);

				return VARSIZE_ANY_EXHDR(t) == len &&
					memcmp(VARDATA_ANY(t), id, len) == 0;
			}
	}
}

static bool
client_values_equal(Datum a, Datum b, Oid typid)
{
	switch (typid)
	{
		case UUIDOID:
			return memcmp(DatumGetUUIDP(a), DatumGetUUIDP(b),
						  sizeof(pg_uuid_t)) == 0;
		case INT8OID:
			return DatumGetInt64(a) == DatumGetInt64(b);
		case INT4OID:
			return DatumGetInt32(a) == DatumGetInt32(b);
		default:
			{
				text	   *ta = DatumGetTextPP(a);
				text	   *tb = DatumGetTextPP(b);

				return VARSIZE_ANY_EXHDR(ta) == VARSIZE_ANY_EXHDR(tb) &&
					memcmp(VARDATA_ANY(ta), VARDATA_ANY(tb),
						   VARSIZE_ANY_EXHDR(ta)) == 0;
			}
	}
}

static void
report_foreign_client(Relation rel, const char *colname)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("new row for relation \"%s\" belongs to another client",
					RelationGetRelationName(rel)),
			 errdetail("Column \"%s\" must hold the current client, dbcore.current_client_id().",
					   colname),
			 errhint("Leave the column NULL (or out of the INSERT) to have the current client filled in.")));
}

PG_FUNCTION_INFO_V1(dbcore_tenant_row_guard);
Datum
dbcore_tenant_row_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	RowGuardCall *call;
	RowGuardState *state;
	TupleDesc	tupdesc;
	HeapTuple	newtuple;
	Datum		value;
	bool		isnull;
	const char *colname;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function dbcore.tenant_row_guard() was not called by trigger manager"),
				 errhint("Call dbcore.enable_tenant_scoping() to create the trigger.")));
	if (!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!(TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) ||
		  TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trigger \"%s\" on relation \"%s\" must be fired BEFORE INSERT OR UPDATE FOR EACH ROW",
						trigdata->tg_trigger->tgname,
						RelationGetRelationName(trigdata->tg_relation)),
				 errhint("Call dbcore.enable_tenant_scoping() to create the trigger.")));

	call = row_guard_get_call(fcinfo, trigdata);
	state = call->state;
	tupdesc = RelationGetDescr(trigdata->tg_relation);
	colname = NameStr(TupleDescAttr(tupdesc, state->attnum - 1)->attname);

	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		newtuple = trigdata->tg_trigtuple;
		value = heap_getattr(newtuple, state->attnum, tupdesc, &isnull);
		if (isnull)
		{
			Datum		stamp;

			/*
			 * A system role without a scope leaves the column NULL: the NOT
			 * NULL constraint then reports the missing client.
			 */
			if (call->system && scope_in_force() == NULL)
				return PointerGetDatum(newtuple);
			stamp = dbcore_current_client_datum(state->atttypid);
			isnull = false;
			newtuple = heap_modify_tuple_by_cols(newtuple, tupdesc, 1,
												 &state->attnum, &stamp, &isnull);
			return PointerGetDatum(newtuple);
		}
		if (!call->system && !is_current_client(value, state->atttypid))
			report_foreign_client(trigdata->tg_relation, colname);
		return PointerGetDatum(newtuple);
	}
	else
	{
		Datum		oldvalue;
		bool		oldnull;

		newtuple = trigdata->tg_newtuple;
		if (call->system)
			return PointerGetDatum(newtuple);

		value = heap_getattr(newtuple, state->attnum, tupdesc, &isnull);
		oldvalue = heap_getattr(trigdata->tg_trigtuple, state->attnum,
								tupdesc, &oldnull);
		if (isnull != oldnull ||
			(!isnull && !client_values_equal(value, oldvalue, state->atttypid)))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("cannot change client column \"%s\" of relation \"%s\"",
							colname, RelationGetRelationName(trigdata->tg_relation)),
					 errdetail("Rows cannot move from one client to another."),
					 errhint("Only a superuser or a role with BYPASSRLS can move rows between clients.")));
		if (!isnull && !is_current_client(value, state->atttypid))
			report_foreign_client(trigdata->tg_relation, colname);
		return PointerGetDatum(newtuple);
	}
}

/* ----------------------------------------------------------------
 * The TRUNCATE guard
 * ----------------------------------------------------------------
 */
PG_FUNCTION_INFO_V1(dbcore_tenant_truncate_guard);
Datum
dbcore_tenant_truncate_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function dbcore.tenant_truncate_guard() was not called by trigger manager"),
				 errhint("Call dbcore.enable_tenant_scoping() to create the trigger.")));
	if (!TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event) ||
		!TRIGGER_FIRED_BEFORE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trigger \"%s\" on relation \"%s\" must be fired BEFORE TRUNCATE",
						trigdata->tg_trigger->tgname,
						RelationGetRelationName(trigdata->tg_relation)),
				 errhint("Call dbcore.enable_tenant_scoping() to create the trigger.")));

	if (!dbcore_has_system_authorization(GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to truncate tenant-scoped table \"%s\"",
						RelationGetRelationName(trigdata->tg_relation)),
				 errdetail("TRUNCATE ignores row level security and would remove the rows of every client."),
				 errhint("Remove the current client's rows with DELETE, or run TRUNCATE as a superuser or a role with BYPASSRLS.")));

	return PointerGetDatum(NULL);
}

/* ----------------------------------------------------------------
 * The registry of tenant-scoped tables
 *
 * dbcore.tenant_tables is writable only by the extension's owner.  The
 * functions below let a table's owner register it (once the scoping is in
 * place) and a role with system-level authorization unregister it.  Only
 * their statements on the registry itself (and on the system catalogs) run
 * as the registry's owner, in a security-restricted operation with a pinned
 * search_path and every name qualified: nothing a user defined is evaluated
 * with that identity (doc/security.md).
 * ----------------------------------------------------------------
 */
typedef struct Elevation
{
	DbcoreIdentity saved;
	const char *nspname;		/* quoted schema name of dbcore */
} Elevation;

/* The schema and the registry's owner, found through the called function. */
typedef struct RegistryRef
{
	Oid			nspoid;
	const char *nspname;		/* quoted */
	Oid			owner;
} RegistryRef;

static void
registry_ref(FunctionCallInfo fcinfo, RegistryRef *ref)
{
	Oid			regrelid;
	HeapTuple	tuple;

	ref->nspoid = dbcore_schema_of(fcinfo);
	regrelid = get_relname_relid(REGISTRY_TABLE, ref->nspoid);
	if (!OidIsValid(regrelid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("dbcore's table of tenant-scoped tables does not exist"),
				 errhint("Update the extension: ALTER EXTENSION dbcore UPDATE.")));
	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(regrelid));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", regrelid);
	ref->owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	ref->nspname = quote_identifier(get_namespace_name(ref->nspoid));
}

/* Become the registry's owner (see dbcore_become). */
static void
elevate(FunctionCallInfo fcinfo, Elevation *e)
{
	RegistryRef ref;

	registry_ref(fcinfo, &ref);
	e->nspname = ref.nspname;
	dbcore_become(ref.owner, &e->saved);
}

static void
unelevate(Elevation *e)
{
	dbcore_unbecome(&e->saved);
}

static void
require_table_owner(Oid relid, const char *action)
{
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	if (!dbcore_owns_relation(relid, GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of table %s to %s", get_rel_name(relid),
						action)));
}

/*
 * Record relid (scoped by column colname; root: the scoped partitioned table
 * above it, or InvalidOid) in the registry, once its scoping is complete.
 * Runs inside SPI, as the registry's owner: it reads the registry and the
 * catalogs and writes the registry, nothing else.
 */
static void
registry_register(const char *nspname, Oid relid, const char *colname, Oid root)
{
	Oid			argtypes[3] = {REGCLASSOID, NAMEOID, REGCLASSOID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};
	NameData	colnamedata;
	int			ret;

	namestrcpy(&colnamedata, colname);
	values[0] = ObjectIdGetDatum(relid);
	values[1] = NameGetDatum(&colnamedata);
	values[2] = ObjectIdGetDatum(root);
	if (!OidIsValid(root))
		nulls[2] = 'n';

	/* A table is scoped by one column; changing it means disabling first. */
	ret = SPI_execute_with_args(psprintf("SELECT r.column_name::pg_catalog.text FROM %s.%s r WHERE r.tbl OPERATOR(pg_catalog.=) $1",
										 nspname, REGISTRY_TABLE),
								1, argtypes, values, nulls, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	if (SPI_processed > 0)
	{
		char	   *registered = SPI_getvalue(SPI_tuptable->vals[0],
											  SPI_tuptable->tupdesc, 1);

		if (strcmp(registered, colname) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("table %s is already tenant-scoped by column \"%s\"",
							get_rel_name(relid), registered),
					 errhint("Call dbcore.disable_tenant_scoping() first, as a superuser or a role with BYPASSRLS.")));
	}

	/* The scoping must be complete. */
	ret = SPI_execute_with_args(psprintf("SELECT p.detail FROM %s.tenant_check_tables(ARRAY[$1], ARRAY[$2]) p",
										 nspname),
								2, argtypes, values, nulls, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("tenant scoping of table \"%s\" is incomplete", get_rel_name(relid)),
				 errdetail("Found: %s.", SPI_getvalue(SPI_tuptable->vals[0],
											  SPI_tuptable->tupdesc, 1)),
				 errhint("Call dbcore.enable_tenant_scoping() on the table.")));

	ret = SPI_execute_with_args(psprintf("INSERT INTO %s.%s AS r (tbl, column_name, root) VALUES ($1, $2, $3) "
										 "ON CONFLICT (tbl) DO UPDATE SET root = EXCLUDED.root",
										 nspname, REGISTRY_TABLE),
								3, argtypes, values, nulls, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
}

/*
 * dbcore._tenant_register(tbl regclass, column_name name, root regclass)
 *
 * Records a table whose scoping is complete; called by
 * dbcore.enable_tenant_scoping().
 */
PG_FUNCTION_INFO_V1(dbcore_tenant_register);
Datum
dbcore_tenant_register(PG_FUNCTION_ARGS)
{
	Oid			relid;
	Elevation	e;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("table and column name must not be null")));
	relid = PG_GETARG_OID(0);

	require_table_owner(relid, "register it for tenant scoping");

	elevate(fcinfo, &e);
	SPI_connect();
	registry_register(e.nspname, relid, NameStr(*PG_GETARG_NAME(1)),
					  PG_ARGISNULL(2) ? InvalidOid : PG_GETARG_OID(2));
	SPI_finish();
	unelevate(&e);
	PG_RETURN_VOID();
}

/*
 * dbcore._tenant_unregister(tbl regclass) RETURNS boolean
 *
 * Forgets a table; called by dbcore.disable_tenant_scoping().  Requires
 * ownership and system-level authorization: otherwise an owner could lift
 * the guard rails.
 */
PG_FUNCTION_INFO_V1(dbcore_tenant_unregister);
Datum
dbcore_tenant_unregister(PG_FUNCTION_ARGS)
{
	Oid			relid;
	Elevation	e;
	Oid			argtypes[1] = {REGCLASSOID};
	Datum		values[1];
	int			ret;
	bool		removed;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("table must not be null")));
	relid = PG_GETARG_OID(0);
	values[0] = ObjectIdGetDatum(relid);

	require_table_owner(relid, "disable its tenant scoping");
	if (!dbcore_has_system_authorization(GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to disable tenant scoping of table \"%s\"",
						get_rel_name(relid)),
				 errdetail("Lifting tenant scoping needs system-level authorization."),
				 errhint("Run it as a superuser or as a role with BYPASSRLS that owns the table.")));

	elevate(fcinfo, &e);
	SPI_connect();
	ret = SPI_execute_with_args(psprintf("DELETE FROM %s.%s r WHERE r.tbl OPERATOR(pg_catalog.=) $1",
										 e.nspname, REGISTRY_TABLE),
								1, argtypes, values, NULL, false, 0);
	if (ret != SPI_OK_DELETE)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	removed = (SPI_processed > 0);
	SPI_finish();
	unelevate(&e);
	PG_RETURN_BOOL(removed);
}

/* ----------------------------------------------------------------
 * Guard rails: event triggers
 *
 * After every DDL command, the scoped tables in dbcore.tenant_tables must
 * still be intact (dbcore.tenant_scoping_problems() lists what is not).  A
 * command run by a role without system-level authorization must not add a
 * problem; problems that were there before it started (left by a superuser,
 * say) are not its doing, so unrelated DDL keeps working.  Also at the end
 * of every DDL command, new and attached partitions of scoped partitioned
 * tables are scoped, and detached ones keep their guard.
 *
 * Who does what (doc/security.md has the whole list):
 *	- reading the registry and the system catalogs, and writing the
 *	  registry, happens as the registry's owner (the invoking role may have
 *	  no rights on schema dbcore at all), with dbcore_become();
 *	- scoping a table (its policies, triggers and NOT NULL) happens as the
 *	  table's owner, with dbcore_become();
 *	- looking at a user's table (does it hold rows, and whose?) and dropping
 *	  a trigger before ATTACH PARTITION happen as the caller, in C, without
 *	  SQL: nothing the table's owner defined (views, rules, policies,
 *	  functions, casts, domains, defaults, index expressions, triggers) is
 *	  evaluated, and only after the caller is found to own the table.
 * ----------------------------------------------------------------
 */

static void
require_event_trigger(FunctionCallInfo fcinfo, const char *funcname)
{
	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function %s was not called by event trigger manager",
						funcname)));
}

/* The problems of all scoped tables, as "relid/check name" keys. */
static List *
current_problems(const char *nspname, List **details)
{
	List	   *keys = NIL;
	int			ret;
	uint64		i;

	ret = SPI_execute(psprintf("SELECT p.tbl::pg_catalog.oid, p.check_name, p.tbl::pg_catalog.text, p.detail "
							   "FROM %s.tenant_scoping_problems() p", nspname),
					  false, 0);	/* not read-only: see this command's changes */
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

		keys = lappend(keys, psprintf("%s/%s", SPI_getvalue(tup, desc, 1),
									  SPI_getvalue(tup, desc, 2)));
		if (details)
			*details = lappend(*details,
							   list_make2(pstrdup(SPI_getvalue(tup, desc, 3)),
										  pstrdup(SPI_getvalue(tup, desc, 4))));
		MemoryContextSwitchTo(old);
	}
	return keys;
}

static bool
key_in_list(List *keys, const char *key)
{
	ListCell   *lc;

	foreach(lc, keys)
		if (strcmp((const char *) lfirst(lc), key) == 0)
			return true;
	return false;
}

/* The (parent, partition) pairs an ALTER TABLE ... ATTACH PARTITION names. */
pg_noinline static List *
attach_targets(Node *parsetree)
{
	AlterTableStmt *stmt;
	ListCell   *lc;
	List	   *pairs = NIL;

	if (parsetree == NULL || !IsA(parsetree, AlterTableStmt))
		return NIL;
	stmt = (AlterTableStmt *) parsetree;
	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = (AlterTableCmd *) lfirst(lc);
		Oid			parent;
		Oid			part;

		if (cmd->subtype != AT_AttachPartition || cmd->def == NULL ||
			!IsA(cmd->def, PartitionCmd))
			continue;
		/* with the caller's search_path, as the command itself will */
		parent = RangeVarGetRelid(stmt->relation, NoLock, true);
		part = RangeVarGetRelid(((PartitionCmd *) cmd->def)->name, NoLock, true);
		if (OidIsValid(parent) && OidIsValid(part))
			pairs = lappend(pairs, list_make2_oid(parent, part));
	}
	return pairs;
}

/*
 * Are two triggers the same trigger but for their table: same function,
 * timing, events, enabled state and arguments, no column list or WHEN?
 */
static bool
same_plain_trigger(const Trigger *a, const Trigger *b)
{
	int			i;

	if (a->tgfoid != b->tgfoid || a->tgtype != b->tgtype ||
		a->tgenabled != b->tgenabled || a->tgnargs != b->tgnargs ||
		a->tgqual != NULL || b->tgqual != NULL ||
		a->tgnattr != 0 || b->tgnattr != 0)
		return false;
	for (i = 0; i < a->tgnargs; i++)
		if (strcmp(a->tgargs[i], b->tgargs[i]) != 0)
			return false;
	return true;
}

/*
 * Before ALTER TABLE parent ATTACH PARTITION part: a row trigger of part's
 * own that parent also has (same name) would clash with the clone that
 * PostgreSQL gives part.  dbcore's row guard always goes; dbcore's
 * updated_at trigger goes when the clone will do exactly what it did.  Any
 * other same-named trigger stays, and the attach fails as PostgreSQL makes
 * it fail.  (If the command fails, the transaction rolls the drop back.)
 *
 * Only when the caller owns both tables, as ATTACH PARTITION requires:
 * otherwise PostgreSQL refuses the command and dbcore leaves both alone.
 * Runs as the caller and evaluates nothing: the triggers are read from the
 * relation cache and dropped with the catalog routine DROP TRIGGER uses.
 */
static void
prepare_attach(Oid nspoid, Oid parent, Oid part)
{
	Oid			userid = GetUserId();
	Oid			guard_fn;
	Oid			updated_at_fn;
	char		relkind = get_rel_relkind(part);
	Relation	prel;
	Relation	crel;
	List	   *doomed = NIL;
	ListCell   *lc;
	int			i;
	int			j;

	if (get_rel_relkind(parent) != RELKIND_PARTITIONED_TABLE ||
		(relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE &&
		 relkind != RELKIND_FOREIGN_TABLE) ||
		!dbcore_owns_relation(parent, userid) ||
		!dbcore_owns_relation(part, userid))
		return;

	guard_fn = dbcore_function_oid(nspoid, "tenant_row_guard");
	updated_at_fn = dbcore_function_oid(nspoid, "updated_at");
	prel = table_open(parent, AccessShareLock);
	crel = table_open(part, AccessShareLock);
	if (prel->trigdesc != NULL && crel->trigdesc != NULL)
	{
		for (i = 0; i < prel->trigdesc->numtriggers; i++)
		{
			const Trigger *pt = &prel->trigdesc->triggers[i];

			if (!OidIsValid(pt->tgfoid) ||
				(pt->tgfoid != guard_fn && pt->tgfoid != updated_at_fn))
				continue;
			for (j = 0; j < crel->trigdesc->numtriggers; j++)
			{
				const Trigger *ct = &crel->trigdesc->triggers[j];

				if (ct->tgisclone || ct->tgisinternal ||
					strcmp(ct->tgname, pt->tgname) != 0)
					continue;
				if (pt->tgfoid == guard_fn
					? (ct->tgfoid == guard_fn &&
					   strcmp(ct->tgname, "dbcore_tenant_guard") == 0)
					: same_plain_trigger(pt, ct))
					doomed = lappend_oid(doomed, ct->tgoid);
			}
		}
	}
	table_close(crel, AccessShareLock);
	table_close(prel, AccessShareLock);

	foreach(lc, doomed)
	{
		ObjectAddress trigger;

		ObjectAddressSet(trigger, TriggerRelationId, lfirst_oid(lc));
		performDeletion(&trigger, DROP_RESTRICT, 0);
	}
	if (doomed != NIL)
		CommandCounterIncrement();
}

/* ----------------------------------------------------------------
 * DDL that reads every client's rows
 *
 * Row level security limits queries, not DDL: a table's owner can run
 * commands that evaluate expressions over all of its rows (rewriting a
 * column's type, validating a CHECK or a foreign key, building an index on
 * an expression), and their errors show the values they tripped on.  The
 * owner can also reference a scoped table from one that is not scoped
 * (foreign-key checks ignore row level security, so inserts probe for other
 * clients' keys) and attach a partition it filled beforehand.  For a role
 * without system-level authorization these are refused at
 * ddl_command_start, before anything is evaluated.  Relation names are
 * resolved here, with the caller's search_path; the registry is then read
 * for the tables they name, and the checks run as the caller.  A check that
 * looks at rows (is the table empty? does it hold other clients' rows?)
 * reads the heap in C, evaluating nothing, and only for a caller who owns
 * the table: anyone else is refused by PostgreSQL itself, and must not learn
 * from dbcore whether the table is empty.
 * ----------------------------------------------------------------
 */
typedef enum DdlRiskKind
{
	RISK_EVALUATES_ROWS,		/* relid scoped: refuse */
	RISK_UNIQUE_KEY,			/* relid scoped and keycols lack its client column */
	RISK_REFERENCE,				/* relid (referenced) scoped, from not scoped */
	RISK_ATTACH					/* relid scoped: other must hold no other client's row */
} DdlRiskKind;

typedef struct DdlRisk
{
	DdlRiskKind kind;
	Oid			relid;
	Oid			owner_rel;		/* RISK_EVALUATES_ROWS: the table PostgreSQL
								 * requires the caller to own */
	const char *what;			/* the command, for the message */
	List	   *keycols;		/* RISK_UNIQUE_KEY: key column names (char *) */
	Oid			other;			/* RISK_REFERENCE: referencing table, or
								 * InvalidOid; RISK_ATTACH: the partition or
								 * inheritance child */
	const char *other_name;		/* RISK_REFERENCE: name of a table being
								 * created */
	bool		other_scoped;	/* RISK_REFERENCE: the new table is a
								 * partition of a scoped table */
	bool		inherit;		/* RISK_ATTACH: by ALTER TABLE ... INHERIT */
	/* from the registry (resolve_risks) */
	char	   *col;			/* relid's client column; NULL: not scoped */
	bool		other_registered;	/* RISK_REFERENCE: other is scoped */
} DdlRisk;

static List *
add_risk(List *risks, DdlRiskKind kind, Oid relid, const char *what)
{
	DdlRisk    *r;

	if (!OidIsValid(relid))
		return risks;
	r = (DdlRisk *) palloc0(sizeof(DdlRisk));
	r->kind = kind;
	r->relid = relid;
	r->owner_rel = relid;
	r->what = what;
	return lappend(risks, r);
}

static Oid
rangevar_relid(RangeVar *rv)
{
	return rv ? RangeVarGetRelid(rv, NoLock, true) : InvalidOid;
}

/* Key column names of an index or constraint; NIL if any key is an expression. */
static List *
index_key_names(List *index_params, bool *has_expr)
{
	List	   *names = NIL;
	ListCell   *lc;

	foreach(lc, index_params)
	{
		IndexElem  *elem = (IndexElem *) lfirst(lc);

		if (elem->expr != NULL || elem->name == NULL)
			*has_expr = true;
		else
			names = lappend(names, elem->name);
	}
	return names;
}

/* Risks of one constraint added to (or created with) table relid. */
static List *
constraint_risks(List *risks, Constraint *con, Oid relid, bool new_column,
				 Oid created_parent, const char *created_name)
{
	DdlRisk    *r;
	List	   *keys = NIL;
	bool		has_expr = false;
	ListCell   *lc;

	switch (con->contype)
	{
		case CONSTR_CHECK:
			if (!con->skip_validation)
				risks = add_risk(risks, RISK_EVALUATES_ROWS, relid, "add a CHECK constraint to");
			break;
		case CONSTR_FOREIGN:
			/* (a new column holds its default only) */
			if (!con->skip_validation && !new_column)
				risks = add_risk(risks, RISK_EVALUATES_ROWS, relid, "add a validated foreign key to");
			r = (DdlRisk *) palloc0(sizeof(DdlRisk));
			r->kind = RISK_REFERENCE;
			r->relid = rangevar_relid(con->pktable);
			r->what = "reference";
			r->other = relid;
			r->other_name = created_name;
			/* a partition of a scoped table is scoped as it is created */
			r->other_scoped = OidIsValid(created_parent);
			if (OidIsValid(r->relid))
				risks = lappend(risks, r);
			break;
		case CONSTR_PRIMARY:
		case CONSTR_UNIQUE:
			if (con->indexname != NULL)
				break;			/* USING INDEX: nothing is built */
			foreach(lc, con->keys)
				keys = lappend(keys, strVal(lfirst(lc)));
			break;
		case CONSTR_EXCLUSION:
			if (con->where_clause != NULL)
				has_expr = true;
			foreach(lc, con->exclusions)
			{
				List	   *pair = (List *) lfirst(lc);

				keys = list_concat(keys, index_key_names(list_make1(linitial(pair)), &has_expr));
			}
			if (has_expr)
				risks = add_risk(risks, RISK_EVALUATES_ROWS, relid, "add an exclusion constraint with expressions or WHERE to");
			break;
		default:
			break;
	}
	if (keys != NIL && OidIsValid(relid) && !OidIsValid(created_parent))
	{
		r = (DdlRisk *) palloc0(sizeof(DdlRisk));
		r->kind = RISK_UNIQUE_KEY;
		r->relid = relid;
		r->what = "add a unique key to";
		r->keycols = keys;
		risks = lappend(risks, r);
	}
	return risks;
}

/*
 * A new partition of parent (bound: its bound) makes PostgreSQL check that
 * no row of parent's DEFAULT partition belongs in it, and fail if one does:
 * for a scoped table, a test of every client's rows (a client-keyed list
 * partition tells whether another client has rows).
 */
static List *
default_partition_risk(List *risks, Oid parent, PartitionBoundSpec *bound)
{
	Oid			def;

	if (!OidIsValid(parent) || bound == NULL || bound->is_default ||
		get_rel_relkind(parent) != RELKIND_PARTITIONED_TABLE)
		return risks;
	def = get_default_partition_oid(parent);
	if (OidIsValid(def))
	{
		risks = add_risk(risks, RISK_EVALUATES_ROWS, def,
						 "add a partition whose bounds are checked against the rows of");
		/* PostgreSQL requires the caller to own the partitioned table */
		((DdlRisk *) llast(risks))->owner_rel = parent;
	}
	return risks;
}

static List *
ddl_risks(Node *parsetree)
{
	List	   *risks = NIL;
	ListCell   *lc;

	if (parsetree == NULL)
		return NIL;
	switch (nodeTag(parsetree))
	{
		case T_AlterTableStmt:
			{
				AlterTableStmt *stmt = (AlterTableStmt *) parsetree;
				Oid			relid;

				if (stmt->objtype != OBJECT_TABLE)
					break;
				relid = rangevar_relid(stmt->relation);
				if (!OidIsValid(relid))
					break;
				foreach(lc, stmt->cmds)
				{
					AlterTableCmd *cmd = (AlterTableCmd *) lfirst(lc);

					switch (cmd->subtype)
					{
						case AT_AlterColumnType:
							risks = add_risk(risks, RISK_EVALUATES_ROWS, relid,
											 "change a column's type in");
							break;
						case AT_ValidateConstraint:
							risks = add_risk(risks, RISK_EVALUATES_ROWS, relid,
											 "validate a constraint of");
							break;
						case AT_AddConstraint:
							if (cmd->def && IsA(cmd->def, Constraint))
								risks = constraint_risks(risks, (Constraint *) cmd->def,
														 relid, false, InvalidOid, NULL);
							break;
						case AT_AddColumn:
							if (cmd->def && IsA(cmd->def, ColumnDef))
							{
								ListCell   *c;

								foreach(c, ((ColumnDef *) cmd->def)->constraints)
								{
									Constraint *con = (Constraint *) lfirst(c);

									if (con->contype == CONSTR_CHECK ||
										con->contype == CONSTR_GENERATED)
										risks = add_risk(risks, RISK_EVALUATES_ROWS, relid,
														 con->contype == CONSTR_CHECK ?
														 "add a column with a CHECK constraint to" :
														 "add a generated column to");
									else if (con->contype == CONSTR_FOREIGN)
										risks = constraint_risks(risks, con, relid, true,
																 InvalidOid, NULL);
								}
							}
							break;
						case AT_AttachPartition:
							if (cmd->def && IsA(cmd->def, PartitionCmd))
							{
								DdlRisk    *r = (DdlRisk *) palloc0(sizeof(DdlRisk));

								r->kind = RISK_ATTACH;
								r->relid = relid;
								r->what = "attach a partition to";
								r->other = rangevar_relid(((PartitionCmd *) cmd->def)->name);
								if (OidIsValid(r->other))
									risks = lappend(risks, r);
								risks = default_partition_risk(risks, relid,
															   ((PartitionCmd *) cmd->def)->bound);
							}
							break;
						case AT_AddInherit:
							/* ALTER TABLE relid INHERIT parent: like an attach */
							if (cmd->def && IsA(cmd->def, RangeVar))
							{
								DdlRisk    *r = (DdlRisk *) palloc0(sizeof(DdlRisk));

								r->kind = RISK_ATTACH;
								r->relid = rangevar_relid((RangeVar *) cmd->def);
								r->what = "inherit from";
								r->other = relid;
								r->inherit = true;
								if (OidIsValid(r->relid))
									risks = lappend(risks, r);
							}
							break;
						default:
							break;
					}
				}
				break;
			}
		case T_IndexStmt:
			{
				IndexStmt  *stmt = (IndexStmt *) parsetree;
				Oid			relid = rangevar_relid(stmt->relation);
				bool		has_expr = stmt->whereClause != NULL;
				List	   *keys = index_key_names(stmt->indexParams, &has_expr);

				if (has_expr)
					risks = add_risk(risks, RISK_EVALUATES_ROWS, relid,
									 "create an index on expressions or with a WHERE clause on");
				else if (stmt->unique && OidIsValid(relid))
				{
					DdlRisk    *r = (DdlRisk *) palloc0(sizeof(DdlRisk));

					r->kind = RISK_UNIQUE_KEY;
					r->relid = relid;
					r->what = "create a unique index on";
					r->keycols = keys;
					risks = lappend(risks, r);
				}
				break;
			}
		case T_CreateStatsStmt:
			{
				CreateStatsStmt *stmt = (CreateStatsStmt *) parsetree;
				bool		has_expr = false;

				foreach(lc, stmt->exprs)
				{
					StatsElem  *elem = (StatsElem *) lfirst(lc);

					if (elem->expr != NULL)
						has_expr = true;
				}
				if (has_expr && list_length(stmt->relations) == 1 &&
					IsA(linitial(stmt->relations), RangeVar))
					risks = add_risk(risks, RISK_EVALUATES_ROWS,
									 rangevar_relid((RangeVar *) linitial(stmt->relations)),
									 "create statistics on expressions of");
				break;
			}
		case T_CreateStmt:
			{
				CreateStmt *stmt = (CreateStmt *) parsetree;
				Oid			parent = InvalidOid;
				char	   *name = stmt->relation->relname;

				if (stmt->partbound != NULL && list_length(stmt->inhRelations) == 1)
				{
					parent = rangevar_relid((RangeVar *) linitial(stmt->inhRelations));
					risks = default_partition_risk(risks, parent, stmt->partbound);
				}
				foreach(lc, stmt->tableElts)
				{
					Node	   *elt = (Node *) lfirst(lc);
					List	   *cons = NIL;
					ListCell   *c;

					if (IsA(elt, Constraint))
						cons = list_make1(elt);
					else if (IsA(elt, ColumnDef))
						cons = ((ColumnDef *) elt)->constraints;
					foreach(c, cons)
					{
						Constraint *con = (Constraint *) lfirst(c);

						if (con->contype == CONSTR_FOREIGN)
							risks = constraint_risks(risks, con, InvalidOid, false,
														 parent, name);
					}
				}
				break;
			}
		default:
			break;
	}
	return risks;
}

/* The client column of a table in the registry, or NULL (inside SPI). */
static char *
registry_column(const char *nspname, Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];
	int			ret;

	if (!OidIsValid(relid))
		return NULL;
	values[0] = ObjectIdGetDatum(relid);
	ret = SPI_execute_with_args(psprintf("SELECT column_name::pg_catalog.text FROM %s.%s WHERE tbl OPERATOR(pg_catalog.=) $1::pg_catalog.oid::pg_catalog.regclass",
										 nspname, REGISTRY_TABLE),
								1, argtypes, values, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
		return NULL;
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

static const char *
rel_display_name(Oid relid)
{
	char	   *name = get_rel_name(relid);

	return name ? name : psprintf("%u", relid);
}

/*
 * Does table relid (its partitions and inheritance children included) hold
 * a row -- with colname given: a row whose client column colname (of type
 * typid) is not the current client?
 *
 * Reads the heap directly, as the caller, with the latest snapshot: no SQL,
 * so nothing the table's owner defined is evaluated (no view, rule, policy,
 * function, operator, cast, domain check, default or index expression), and
 * row level security does not hide rows from the answer.  A member that is
 * not a plain or partitioned table, or whose client column is missing or of
 * another type, counts as holding such a row: it cannot be read this way.
 * The caller has checked that the session's role owns relid.
 */
static bool
table_holds_row(Oid relid, const char *colname, Oid typid)
{
	List	   *members;
	ListCell   *lc;
	Snapshot	snapshot;
	bool		found = false;

	members = find_all_inheritors(relid, AccessShareLock, NULL);
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	foreach(lc, members)
	{
		Oid			member = lfirst_oid(lc);
		char		relkind = get_rel_relkind(member);
		Relation	rel;
		TupleTableSlot *slot;
		TableScanDesc scan;
		AttrNumber	attnum = InvalidAttrNumber;

		if (relkind == RELKIND_PARTITIONED_TABLE)
			continue;
		if (relkind != RELKIND_RELATION)
		{
			found = true;
			break;
		}
		rel = table_open(member, NoLock);	/* locked above */
		if (colname != NULL)
		{
			Form_pg_attribute attr = dbcore_find_column(RelationGetDescr(rel), colname);

			if (attr == NULL || attr->atttypid != typid)
			{
				table_close(rel, NoLock);
				found = true;
				break;
			}
			attnum = attr->attnum;
		}
		slot = table_slot_create(rel, NULL);
		scan = table_beginscan(rel, snapshot, 0, NULL);
		while (!found && table_scan_getnextslot(scan, ForwardScanDirection, slot))
		{
			Datum		value;
			bool		isnull;

			CHECK_FOR_INTERRUPTS();
			if (colname == NULL)
			{
				found = true;
				break;
			}
			value = slot_getattr(slot, attnum, &isnull);
			if (isnull || !is_current_client(value, typid))
				found = true;
		}
		table_endscan(scan);
		ExecDropSingleTupleTableSlot(slot);
		table_close(rel, NoLock);
		if (found)
			break;
	}
	UnregisterSnapshot(snapshot);
	return found;
}

/*
 * Fill in what the registry says about the risks' tables (inside SPI, as the
 * registry's owner; it reads nothing else).  Strings go into context cxt.
 */
static void
resolve_risks(List *risks, const char *nspname, MemoryContext cxt)
{
	ListCell   *lc;

	foreach(lc, risks)
	{
		DdlRisk    *r = (DdlRisk *) lfirst(lc);
		char	   *col = registry_column(nspname, r->relid);

		if (col == NULL)
			continue;
		r->col = MemoryContextStrdup(cxt, col);
		if (r->kind == RISK_REFERENCE && OidIsValid(r->other))
			r->other_registered = registry_column(nspname, r->other) != NULL;
	}
}

/*
 * ATTACH PARTITION or INHERIT of r->other under scoped table r->relid: the
 * new member must hold no row of another client.
 */
static void
check_attach(DdlRisk *r)
{
	Oid			userid = GetUserId();
	char		relkind;
	AttrNumber	attnum;
	AttrNumber	other_attnum;
	Oid			typid;
	bool		scoped;

	/*
	 * Both commands require the caller to own both tables: for anyone else
	 * PostgreSQL refuses, and dbcore looks at neither.
	 */
	if (!dbcore_owns_relation(r->relid, userid) ||
		!dbcore_owns_relation(r->other, userid))
		return;

	/*
	 * A view or the like cannot be attached or inherit (PostgreSQL says so),
	 * and a foreign table cannot be tenant-scoped (the end of the command
	 * says so): neither is read.
	 */
	relkind = get_rel_relkind(r->other);
	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		return;

	/*
	 * A client column of another type (a domain over it, say) makes
	 * PostgreSQL refuse the command before it reads a row: nothing to
	 * compare, and no cast or domain check is ever run.
	 */
	attnum = get_attnum(r->relid, r->col);
	typid = get_atttype(r->relid, attnum);
	other_attnum = get_attnum(r->other, r->col);
	if (other_attnum == InvalidAttrNumber ||
		get_atttype(r->other, other_attnum) != typid ||
		!client_type_supported(typid))
		return;

	scoped = scope_in_force() != NULL;
	if (!table_holds_row(r->other, scoped ? r->col : NULL, typid))
		return;
	if (r->inherit)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to make table \"%s\" inherit from tenant-scoped table \"%s\"",
						rel_display_name(r->other), rel_display_name(r->relid)),
				 scoped ?
				 errdetail("The table holds rows of other clients than the current one.") :
				 errdetail("The table holds rows, and no client scope is set."),
				 errhint("Let an empty table or one holding only the current client's rows inherit, or run ALTER TABLE ... INHERIT as a superuser or a role with BYPASSRLS.")));
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to attach table \"%s\" to tenant-scoped table \"%s\"",
					rel_display_name(r->other), rel_display_name(r->relid)),
			 scoped ?
			 errdetail("The table holds rows of other clients than the current one.") :
			 errdetail("The table holds rows, and no client scope is set."),
			 errhint("Attach an empty table or one holding only the current client's rows, or run ATTACH PARTITION as a superuser or a role with BYPASSRLS.")));
}

/* Refuse the first risk that applies to a scoped table (as the caller). */
static void
refuse_ddl_risks(List *risks)
{
	ListCell   *lc;

	foreach(lc, risks)
	{
		DdlRisk    *r = (DdlRisk *) lfirst(lc);
		const char *col = r->col;

		if (col == NULL)
			continue;
		switch (r->kind)
		{
			case RISK_EVALUATES_ROWS:
				/*
				 * Nothing to evaluate in an empty table (its size says as
				 * much to anyone).  A caller who does not own the table is
				 * refused by PostgreSQL, and not told whether it is empty.
				 */
				if (!dbcore_owns_relation(r->owner_rel, GetUserId()) ||
					!table_holds_row(r->relid, NULL, InvalidOid))
					break;
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("permission denied to %s tenant-scoped table \"%s\"",
								r->what, rel_display_name(r->relid)),
						 errdetail("The command evaluates expressions over the rows of every client, which row level security does not limit, and its errors can show their values."),
						 errhint("Run it as a superuser or a role with BYPASSRLS, for example the role that runs migrations.")));
				break;
			case RISK_UNIQUE_KEY:
				{
					ListCell   *k;
					bool		found = false;

					foreach(k, r->keycols)
					{
						if (strcmp((char *) lfirst(k), col) == 0)
							found = true;
					}
					if (!found)
						ereport(ERROR,
								(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
								 errmsg("permission denied to %s tenant-scoped table \"%s\" without its client column \"%s\"",
										r->what, rel_display_name(r->relid), col),
								 errdetail("A unique key without the client column compares the rows of every client: building it shows their duplicate values, and inserts can probe for other clients' keys."),
								 errhint("Include \"%s\" in the key, or run the command as a superuser or a role with BYPASSRLS.",
										 col)));
					break;
				}
			case RISK_REFERENCE:
				if (r->other_scoped || r->other_registered)
					break;
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("permission denied to reference tenant-scoped table \"%s\" from table \"%s\", which is not tenant-scoped",
								rel_display_name(r->relid),
								r->other_name ? r->other_name : rel_display_name(r->other)),
						 errdetail("Foreign-key checks ignore row level security: rows of a table that is not scoped could probe for other clients' keys."),
						 errhint("Create the table, call dbcore.enable_tenant_scoping() on it, then add the foreign key; or run the command as a superuser or a role with BYPASSRLS.")));
				break;
			case RISK_ATTACH:
				check_attach(r);
				break;
		}
	}
}

/* dbcore.tenant_ddl_start(): ddl_command_start */
PG_FUNCTION_INFO_V1(dbcore_tenant_ddl_start);
Datum
dbcore_tenant_ddl_start(PG_FUNCTION_ARGS)
{
	DdlFrame   *frame;
	MemoryContext old;
	List	   *attach;
	List	   *volatile risks = NIL;
	Node	   *parsetree;

	require_event_trigger(fcinfo, "dbcore.tenant_ddl_start()");
	if (in_guard_rails || creating_extension)
		PG_RETURN_VOID();
	parsetree = ((EventTriggerData *) fcinfo->context)->parsetree;
	attach = attach_targets(parsetree);

	old = MemoryContextSwitchTo(TopTransactionContext);
	frame = (DdlFrame *) palloc0(sizeof(DdlFrame));
	frame->nestlevel = GetCurrentTransactionNestLevel();
	frame->check = !dbcore_has_system_authorization(GetUserId());
	MemoryContextSwitchTo(old);

	/* Superusers and BYPASSRLS roles are not checked. */
	if (frame->check)
		risks = ddl_risks(parsetree);
	if (attach != NIL || frame->check)
	{
		RegistryRef ref;
		DbcoreIdentity saved;
		MemoryContext cxt = CurrentMemoryContext;

		registry_ref(fcinfo, &ref);
		in_guard_rails = true;
		PG_TRY();
		{
			ListCell   *lc;

			SPI_connect();
			if (risks != NIL)
			{
				dbcore_become(ref.owner, &saved);
				resolve_risks((List *) risks, ref.nspname, cxt);
				dbcore_unbecome(&saved);
			}
			/* as the caller */
			refuse_ddl_risks((List *) risks);
			foreach(lc, attach)
				prepare_attach(ref.nspoid, linitial_oid((List *) lfirst(lc)),
							   lsecond_oid((List *) lfirst(lc)));
			if (frame->check)
			{
				dbcore_become(ref.owner, &saved);
				frame->problems = current_problems(ref.nspname, NULL);
				dbcore_unbecome(&saved);
			}
			SPI_finish();
		}
		PG_FINALLY();
		{
			in_guard_rails = false;
		}
		PG_END_TRY();
	}

	old = MemoryContextSwitchTo(TopTransactionContext);
	ddl_frames = lappend(ddl_frames, frame);
	MemoryContextSwitchTo(old);
	PG_RETURN_VOID();
}

/*
 * The tables the end of a DDL command must scope (inside SPI, as the
 * registry's owner: it reads the registry and the catalogs).  With detached:
 * partitions in the registry that left their scoped partitioned table,
 * outermost first; otherwise partitions under a scoped partitioned table
 * that are not in the registry yet.  The trees are walked through
 * pg_inherits, which takes no locks: this runs after every DDL command, and
 * pg_partition_tree() would lock every partition of every scoped table,
 * deadlocking concurrent DDL on two partitions of one table.
 */
typedef struct PendingScope
{
	Oid			relid;
	char	   *colname;
	Oid			root;			/* scoped partitioned table above it */
} PendingScope;

static List *
pending_scopes(const char *nspname, bool detached, MemoryContext cxt)
{
	const char *sql;
	List	   *result = NIL;
	int			ret;
	uint64		i;

	if (detached)
		sql = "SELECT s.tbl::pg_catalog.oid, s.column_name::pg_catalog.text, NULL::pg_catalog.oid"
			"  FROM %1$s.tenant_tables s"
			"  JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) s.tbl::pg_catalog.oid"
			" WHERE s.root IS NOT NULL"
			"   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_partition_ancestors(s.tbl) a"
			"                    WHERE a.relid OPERATOR(pg_catalog.=) s.root)"
			" ORDER BY (SELECT pg_catalog.count(*) FROM pg_catalog.pg_partition_ancestors(s.tbl)), s.tbl";
	else
		sql = "WITH RECURSIVE tree AS ("
			"    SELECT i.inhrelid AS relid, 1 AS level, s.tbl::pg_catalog.oid AS root, s.column_name"
			"      FROM %1$s.tenant_tables s"
			"      JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) s.tbl::pg_catalog.oid"
			"                                AND c.relkind OPERATOR(pg_catalog.=) 'p'"
			"      JOIN pg_catalog.pg_inherits i ON i.inhparent OPERATOR(pg_catalog.=) s.tbl::pg_catalog.oid"
			"    UNION ALL"
			"    SELECT i.inhrelid, t.level OPERATOR(pg_catalog.+) 1, t.root, t.column_name"
			"      FROM tree t"
			"      JOIN pg_catalog.pg_inherits i ON i.inhparent OPERATOR(pg_catalog.=) t.relid"
			")"
			" SELECT DISTINCT ON (t.level, t.relid) t.relid, t.column_name::pg_catalog.text, t.root"
			"   FROM tree t"
			"  WHERE NOT EXISTS (SELECT 1 FROM %1$s.tenant_tables x"
			"                     WHERE x.tbl::pg_catalog.oid OPERATOR(pg_catalog.=) t.relid)"
			"  ORDER BY t.level, t.relid, t.root";

	ret = SPI_execute(psprintf(sql, nspname), false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		MemoryContext old = MemoryContextSwitchTo(cxt);
		PendingScope *p = (PendingScope *) palloc0(sizeof(PendingScope));
		bool		isnull;
		Datum		root;

		p->relid = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
		p->colname = pstrdup(SPI_getvalue(tup, desc, 2));
		root = SPI_getbinval(tup, desc, 3, &isnull);
		p->root = isnull ? InvalidOid : DatumGetObjectId(root);
		result = lappend(result, p);
		MemoryContextSwitchTo(old);
	}
	return result;
}

/* The nearest scoped partitioned table above relid (inside SPI, elevated). */
static Oid
registry_root(const char *nspname, Oid relid)
{
	Oid			argtypes[1] = {REGCLASSOID};
	Datum		values[1];
	bool		isnull;
	int			ret;

	values[0] = ObjectIdGetDatum(relid);
	ret = SPI_execute_with_args(psprintf("SELECT a.relid::pg_catalog.oid"
										 "  FROM pg_catalog.pg_partition_ancestors($1) WITH ORDINALITY AS a(relid, n)"
										 "  JOIN %s.%s x ON x.tbl OPERATOR(pg_catalog.=) a.relid"
										 " WHERE a.relid OPERATOR(pg_catalog.<>) $1"
										 " ORDER BY a.n LIMIT 1",
										 nspname, REGISTRY_TABLE),
								1, argtypes, values, NULL, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
		return InvalidOid;
	return DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
										  SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * Scope one table, with dbcore._tenant_scope_one(), as the table's owner
 * (inside SPI): its DDL runs with the rights of the role it belongs to, in
 * a security-restricted operation, never as the extension's owner.  The
 * owner needs USAGE on dbcore's schema, as enable_tenant_scoping() does.
 */
static void
scope_as_owner(const RegistryRef *ref, Oid relid, const char *colname)
{
	HeapTuple	tuple;
	Oid			owner;
	Oid			argtypes[2] = {REGCLASSOID, TEXTOID};
	Datum		values[2];
	DbcoreIdentity saved;
	int			ret;

	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tuple))
		return;					/* dropped by the command itself */
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);

	if (dbcore_compat_namespace_aclcheck(ref->nspoid, owner, ACL_USAGE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot tenant-scope table \"%s\" as its owner \"%s\"",
						rel_display_name(relid), GetUserNameFromId(owner, false)),
				 errdetail("A partition of a tenant-scoped table is scoped with the rights of its owner, which needs USAGE on schema %s.",
						   ref->nspname),
				 errhint("Grant it with GRANT USAGE ON SCHEMA %s TO %s, or give the table another owner.",
						 ref->nspname, quote_identifier(GetUserNameFromId(owner, false)))));

	values[0] = ObjectIdGetDatum(relid);
	values[1] = CStringGetTextDatum(colname);
	dbcore_become(owner, &saved);
	ret = SPI_execute_with_args(psprintf("SELECT %s._tenant_scope_one($1, $2::pg_catalog.name)",
										 ref->nspname),
								2, argtypes, values, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	dbcore_unbecome(&saved);
}

/*
 * The end-of-command work: scope new partitions, keep detached ones guarded
 * (each as its owner, then recorded as the registry's owner), and (with
 * check) list the problems now.
 */
static List *
after_ddl(FunctionCallInfo fcinfo, bool check, List **details)
{
	RegistryRef ref;
	MemoryContext cxt = CurrentMemoryContext;
	List	   *volatile keys = NIL;

	registry_ref(fcinfo, &ref);
	in_guard_rails = true;
	PG_TRY();
	{
		DbcoreIdentity saved;
		int			pass;

		SPI_connect();
		for (pass = 0; pass < 2; pass++)
		{
			bool		detached = (pass == 0);
			List	   *pending;
			ListCell   *lc;

			dbcore_become(ref.owner, &saved);
			pending = pending_scopes(ref.nspname, detached, cxt);
			dbcore_unbecome(&saved);
			foreach(lc, pending)
			{
				PendingScope *p = (PendingScope *) lfirst(lc);

				scope_as_owner(&ref, p->relid, p->colname);
				dbcore_become(ref.owner, &saved);
				registry_register(ref.nspname, p->relid, p->colname,
								  detached ? registry_root(ref.nspname, p->relid) : p->root);
				dbcore_unbecome(&saved);
			}
		}
		if (check)
		{
			dbcore_become(ref.owner, &saved);
			keys = current_problems(ref.nspname, details);
			dbcore_unbecome(&saved);
		}
		SPI_finish();
	}
	PG_FINALLY();
	{
		in_guard_rails = false;
	}
	PG_END_TRY();
	return keys;
}

/* dbcore.tenant_ddl_end(): ddl_command_end */
PG_FUNCTION_INFO_V1(dbcore_tenant_ddl_end);
Datum
dbcore_tenant_ddl_end(PG_FUNCTION_ARGS)
{
	DdlFrame   *frame = NULL;
	List	   *details = NIL;
	List	   *now_keys;
	ListCell   *lk;
	ListCell   *ld;
	const char *table = NULL;
	StringInfoData what;

	require_event_trigger(fcinfo, "dbcore.tenant_ddl_end()");
	if (in_guard_rails || creating_extension)
		PG_RETURN_VOID();

	if (ddl_frames != NIL)
	{
		frame = (DdlFrame *) llast(ddl_frames);
		ddl_frames = list_delete_last(ddl_frames);
	}

	/* No frame: the command started before dbcore's triggers existed. */
	if (frame == NULL || !frame->check)
	{
		(void) after_ddl(fcinfo, false, NULL);
		PG_RETURN_VOID();
	}

	now_keys = after_ddl(fcinfo, true, &details);
	initStringInfo(&what);
	forboth(lk, now_keys, ld, details)
	{
		List	   *d = (List *) lfirst(ld);

		if (key_in_list(frame->problems, (const char *) lfirst(lk)))
			continue;
		/* Report the first table that got a new problem. */
		if (table == NULL)
			table = (const char *) linitial(d);
		else if (strcmp(table, (const char *) linitial(d)) != 0)
			continue;
		appendStringInfo(&what, "%s%s", what.len > 0 ? "; " : "",
						 (const char *) lsecond(d));
	}
	if (table != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to weaken tenant scoping of table \"%s\"", table),
				 errdetail("After this command: %s.", what.data),
				 errhint("Only a superuser or a role with BYPASSRLS may do this; or such a role first calls dbcore.disable_tenant_scoping().")));
	PG_RETURN_VOID();
}

/* dbcore.tenant_sql_drop(): sql_drop; dropped tables leave the registry. */
PG_FUNCTION_INFO_V1(dbcore_tenant_sql_drop);
Datum
dbcore_tenant_sql_drop(PG_FUNCTION_ARGS)
{
	Elevation	e;

	require_event_trigger(fcinfo, "dbcore.tenant_sql_drop()");
	if (in_guard_rails || creating_extension)
		PG_RETURN_VOID();

	elevate(fcinfo, &e);
	in_guard_rails = true;
	PG_TRY();
	{
		int			ret;

		SPI_connect();
		ret = SPI_execute(psprintf("DELETE FROM %s.%s r USING pg_catalog.pg_event_trigger_dropped_objects() d "
								   "WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass "
								   "AND d.objsubid OPERATOR(pg_catalog.=) 0 "
								   "AND r.tbl::pg_catalog.oid OPERATOR(pg_catalog.=) d.objid",
								   e.nspname, REGISTRY_TABLE),
						  false, 0);
		if (ret != SPI_OK_DELETE)
			elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
		SPI_finish();
	}
	PG_FINALLY();
	{
		in_guard_rails = false;
	}
	PG_END_TRY();
	unelevate(&e);
	PG_RETURN_VOID();
}
