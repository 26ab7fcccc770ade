/*-------------------------------------------------------------------------
 *
 * client_token.h
 *		Signed client tokens (client_token.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef DBCORE_CLIENT_TOKEN_H
#define DBCORE_CLIENT_TOKEN_H

/* The longest value of dbcore.client_id: a client id or a token. */
#define DBCORE_CLIENT_ID_MAX_LEN	1024

/* Every token starts so; a plain client id must not. */
#define TOKEN_PREFIX			"v1."
#define TOKEN_PREFIX_LEN		3

/* Defines dbcore.signing_keys and dbcore.token_max_ttl. */
extern void dbcore_client_token_init(void);

/* Is strict mode on (dbcore.signing_keys set)? */
extern bool dbcore_strict_mode(void);

/*
 * Parses, and unless verify is false verifies, a token, for the check hook
 * of dbcore.client_id: on failure reports through GUC_check_errmsg() and
 * friends and returns false; on success *client_id is the client id it
 * carries (palloc'd).
 */
extern bool dbcore_verify_client_token(const char *token, bool verify, char **client_id);

#endif							/* DBCORE_CLIENT_TOKEN_H */
