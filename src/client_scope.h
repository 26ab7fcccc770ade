/*-------------------------------------------------------------------------
 *
 * client_scope.h
 *		The current client (client_scope.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef DBCORE_CLIENT_SCOPE_H
#define DBCORE_CLIENT_SCOPE_H

#include "fmgr.h"

/* Defines dbcore.session_scope and dbcore.client_id; after the tokens. */
extern void dbcore_client_scope_init(void);

/* The client id of the scope in force, or NULL when there is none. */
extern const char *dbcore_scope_in_force(void);

/* Is typid a type a client column may have (uuid, bigint, integer, text)? */
extern bool dbcore_client_type_supported(Oid typid);

/*
 * The current client as a Datum of the given type (uuid, bigint, integer;
 * text for any other), and whether a (non-null) value of a client column
 * of that type is the current client.  Both raise the errors of
 * dbcore.current_client_id() when no valid scope is set.
 */
extern Datum dbcore_current_client_datum(Oid typid);
extern bool dbcore_is_current_client(Datum value, Oid typid);

/*
 * The current client as a Datum of a client type, without errors: false
 * when there is no scope or its id is not a value of that type.
 */
extern bool dbcore_current_client_try_datum(Oid typid, Datum *value);

/*
 * The value of dbcore.client_id in force: the client id or, in strict mode,
 * the token that was set; "" when no scope is in force.
 */
extern const char *dbcore_client_scope_setting(void);

/*
 * fn(id) is called by the setting's assign hook whenever a scope for a
 * client begins, also when a rollback restores one (one listener:
 * scope_route.c).  It must not fail.
 */
typedef void (*DbcoreClientChange) (const char *id);
extern void dbcore_client_scope_on_change(DbcoreClientChange fn);

/* The SQL-callable readers, which scope_plan.c recognises by address. */
extern Datum dbcore_current_client_id(PG_FUNCTION_ARGS);
extern Datum dbcore_current_client_id_text(PG_FUNCTION_ARGS);
extern Datum dbcore_current_client_id_bigint(PG_FUNCTION_ARGS);
extern Datum dbcore_current_client_id_int(PG_FUNCTION_ARGS);

#endif							/* DBCORE_CLIENT_SCOPE_H */
