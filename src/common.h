/*-------------------------------------------------------------------------
 *
 * common.h
 *		The bottom layer: helpers that several of dbcore's files use.  This
 *		file calls nothing above it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef DBCORE_COMMON_H
#define DBCORE_COMMON_H

#include "access/tupdesc.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/rel.h"

/* The live (not dropped) column of that name in tupdesc, or NULL. */
extern Form_pg_attribute dbcore_find_column(TupleDesc tupdesc, const char *colname);

/*
 * Superusers and roles with BYPASSRLS: PostgreSQL's own "system-level
 * authorization" for row level security, and dbcore's.
 */
extern bool dbcore_has_system_authorization(Oid roleid);

/* A relation's name for a message (its OID if it has gone). */
extern const char *dbcore_rel_name(Oid relid);

/*
 * A value for a message, at most about 64 bytes of it (whole characters),
 * with "..." when it was longer: a message must not echo a huge input.
 */
extern const char *dbcore_clip(const char *value);

/* Does roleid own relation relid (directly or through role membership)? */
extern bool dbcore_owns_relation(Oid relid, Oid roleid);

/* The schema dbcore is installed in: that of the function being called. */
extern Oid	dbcore_schema_of(FunctionCallInfo fcinfo);

/* The OID of function nspoid.name() taking no arguments, or InvalidOid. */
extern Oid	dbcore_function_oid(Oid nspoid, const char *name);

/*
 * Are two stored values of one attribute the same bytes?  (Two NULLs are;
 * equal TOAST pointers are, without fetching either value.)
 */
extern bool dbcore_datum_same(Datum a, bool a_null, Datum b, bool b_null,
							  Form_pg_attribute attr);

/* ----------------------------------------------------------------
 * Transaction-scoped settings (dbcore.client_id, dbcore.actor,
 * dbcore.show_deleted)
 * ----------------------------------------------------------------
 */

/* Where a setting's value came from, in words for an error message. */
extern const char *dbcore_guc_source_words(GucSource source);

/*
 * For a check hook: may a non-empty value of setting name come from
 * source?  Only values set in a session (SET, SET LOCAL, set_config(), a
 * function's SET clause) may: a role or database default, the server
 * configuration or connection options would outlive the transaction.
 * Otherwise reports 42501 through GUC_check_err*() and returns false.
 */
extern bool dbcore_guc_check_session_source(const char *name, GucSource source,
											const char *detail, const char *hint);

/* Set a setting at session level, bypassing privilege checks (clearing). */
extern void dbcore_guc_set_session(const char *name, const char *value);

/*
 * A relcache invalidation callback, called from the one that dbcore
 * registers with PostgreSQL (a backend has ten for every library together).
 */
extern void dbcore_register_relcache_callback(RelcacheCallbackFunction func, Datum arg);

/*
 * Per-trigger state of dbcore's row triggers.
 *
 * What a row trigger needs to know about its table (the column it works
 * on, parsed arguments) is worked out once per trigger and kept for the
 * life of the backend in a hash keyed by the trigger's OID; each file's
 * state struct starts with a DbcoreTriggerState.  A relcache invalidation
 * of the trigger's table marks the state stale, and so does a column that
 * is no longer where the state says (checked cheaply on every row): a stale
 * state is simply recomputed.  Callers keep a pointer to their state in
 * fn_extra, so the hash is searched once per statement.
 */
typedef struct DbcoreTriggerState
{
	Oid			tgoid;			/* hash key: pg_trigger OID */
	Oid			relid;			/* table the trigger is on */
	bool		valid;			/* false once the table changed */
	int			attnum;			/* the column the trigger works on (int, as
								 * heap_modify_tuple_by_cols wants) */
	Oid			atttypid;		/* its type */
} DbcoreTriggerState;

typedef struct DbcoreTriggerCache
{
	const char *name;			/* of the hash table */
	Size		entrysize;		/* of the caller's state struct */
	HTAB	   *states;			/* created on first use */
} DbcoreTriggerCache;

/* The state of trigger tgoid (valid = false when new). */
extern DbcoreTriggerState *dbcore_trigger_state(DbcoreTriggerCache *cache, Oid tgoid);

/* Must the caller (re)compute state before using it for this row? */
static inline bool
dbcore_trigger_state_stale(const DbcoreTriggerState *state, TriggerData *trigdata)
{
	TupleDesc	tupdesc = RelationGetDescr(trigdata->tg_relation);

	return !state->valid ||
		state->relid != RelationGetRelid(trigdata->tg_relation) ||
		state->attnum > tupdesc->natts ||
		TupleDescAttr(tupdesc, state->attnum - 1)->attisdropped ||
		TupleDescAttr(tupdesc, state->attnum - 1)->atttypid != state->atttypid;
}

/*
 * Running as another role.
 *
 * dbcore_become(role, &saved) switches the current user to role in a
 * security-restricted operation (SET ROLE, temporary tables, WITH HOLD
 * cursors and the like are refused, as in a maintenance command) with
 * search_path pinned to "pg_catalog, pg_temp"; dbcore_unbecome(&saved)
 * switches back.  An error in between is cleaned up by the (sub)transaction
 * abort, as for a SECURITY DEFINER function.  Every use is listed in
 * doc/security.md.
 */
typedef struct DbcoreIdentity
{
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
} DbcoreIdentity;

extern void dbcore_become(Oid roleid, DbcoreIdentity *saved);
extern void dbcore_unbecome(DbcoreIdentity *saved);

/*
 * SQL on dbcore's own tables as their owner: dbcore_spi_enter_as() becomes
 * the role (as dbcore_become()) and connects to SPI; dbcore_spi_leave()
 * undoes both.  dbcore_check_spi() turns an unexpected SPI result into an
 * internal error.
 */
extern void dbcore_spi_enter_as(Oid roleid, DbcoreIdentity *saved);
extern void dbcore_spi_leave(DbcoreIdentity *saved);
extern void dbcore_check_spi(int ret, int expected);

/*
 * Run query (no parameters) as roleid and turn its rows (relid, check
 * name, table, detail) into "relid/<prefix><check name>" keys, and with
 * details (table, detail) pairs, in cxt: how the guard rails compare the
 * problems of dbcore's tables before and after a DDL command.
 */
extern List *dbcore_problem_keys(Oid roleid, const char *query, const char *prefix,
								 MemoryContext cxt, List **details);

/*
 * Pin search_path to "pg_catalog, pg_temp" for the SQL dbcore runs (every
 * name in it qualified anyway); returns the GUC nest level to undo it with.
 */
extern int	dbcore_pin_search_path(void);
extern void dbcore_unpin_search_path(int nestlevel);

/* The owner of relation relid (error if it does not exist). */
extern Oid	dbcore_relation_owner(Oid relid);

#endif							/* DBCORE_COMMON_H */
