/*-------------------------------------------------------------------------
 *
 * citus.h
 *		What dbcore does differently on a node of a Citus cluster (citus.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef DBCORE_CITUS_H
#define DBCORE_CITUS_H

#include "access/attnum.h"
#include "nodes/nodes.h"
#include "nodes/parsenodes.h"
#include "utils/relcache.h"

#include "tenant_registry.h"

/* The application_name prefix of the connections Citus opens between nodes. */
#define DBCORE_CITUS_INTERNAL_APPNAME "citus_internal gpid="

/* Notes whether Citus was loaded before dbcore; first in _PG_init(). */
extern void dbcore_citus_init(void);

/*
 * citus_xact.c: assign_distributed_transaction_id() only as Citus calls it,
 * and Citus's application_name only from a connection's startup packet.
 */
extern void dbcore_citus_xact_init(void);

/*
 * citus_activity.c: literals blanked in the command text pg_stat_activity
 * shows, for SET LOCAL dbcore.client_id (called by the utility hook of
 * scope_forward.c) and for queries on Citus's own connections.
 */
extern void dbcore_citus_activity_init(void);
extern void dbcore_citus_activity_hide_value(const char *queryString,
											 VariableSetStmt *stmt);

/* Is Citus loaded in this server (shared_preload_libraries)? */
extern bool dbcore_citus_loaded(void);

/* Is the citus extension installed in the current database? */
extern bool dbcore_citus_installed(void);

/* Does Citus keep relid's rows in shards (any table in its metadata)? */
extern bool dbcore_citus_has_shards(Oid relid);

/*
 * The same, remembered per backend until relid's relcache entry is
 * invalidated: only where a stale answer cannot change a result.
 */
extern bool dbcore_citus_has_shards_cached(Oid relid);

/*
 * The distribution column of a hash-distributed Citus table; else
 * InvalidAttrNumber.
 */
extern AttrNumber dbcore_citus_distribution_column(Oid relid);

/* Is relid a shard of a Citus table (named <table>_<shard id>)? */
extern bool dbcore_citus_is_shard(Oid relid);

extern void dbcore_citus_refuse_trigger(Relation rel, const char *feature);

/*
 * Is this session one of Citus's own connections between nodes, by its
 * application_name?  Any client can set that name: alone it is a
 * convenience, never a security decision (citus_xact.c also requires it
 * from the startup packet, and refuses it later).
 */
extern bool dbcore_citus_internal_connection(void);

/* Does appname (NULL allowed) start as Citus's connections between nodes name themselves? */
extern bool dbcore_citus_appname(const char *appname);

/* Is this node a Citus worker (Citus installed, not the coordinator)? */
extern bool dbcore_citus_is_worker(void);

/*
 * SET LOCAL name TO value as a SQL command, so that Citus forwards it to
 * the worker nodes in the transaction (now and on connections it opens
 * later), whatever citus.propagate_set_commands says.
 */
extern void dbcore_citus_set_local(const char *name, const char *value);

/*
 * Run standard SET LOCAL / RESET processing of a setting (the caller's
 * ProcessUtility step) with citus.propagate_set_commands = 'local' in
 * force: callers wrap the next ProcessUtility hook with these two.
 */
extern int	dbcore_citus_forward_sets_begin(void);
extern void dbcore_citus_forward_sets_end(int nestlevel);

/*
 * Plan the next statement with citus.enable_local_fast_path_query_optimization
 * off (a no-op, -1, where Citus has no such setting).
 */
extern int	dbcore_citus_plan_safely_begin(void);
extern void dbcore_citus_plan_safely_end(int nestlevel);

/*
 * At ddl_command_end of CREATE POLICY dbcore_tenant_isolation: if it arrived
 * PERMISSIVE (Citus copies policies to shards and workers that way), it is
 * made RESTRICTIVE again.
 */
extern void dbcore_citus_policy_created(Node *parsetree);

/*
 * At ddl_command_start, on any node with Citus: refuse a role without
 * system-level authorization DDL that would switch off dbcore's scoping of
 * a shard, or of a node's copy of a scoped table (relations that carry
 * dbcore's row guard but are not in the registry).
 */
extern void dbcore_citus_refuse_shard_weakening(Node *parsetree,
												const DbcoreRegistry *reg);

/*
 * Before a TRUNCATE (ProcessUtility): refuse a role without system-level
 * authorization a shard, or a node's copy, of a scoped table.  (Citus keeps
 * TRUNCATE triggers, dbcore's guard among them, off shards.)
 */
extern void dbcore_citus_refuse_shard_truncate(Node *parsetree);

/*
 * Before a COPY: COPY table TO of a distributed table under row level
 * security, as COPY (SELECT ...) TO, which runs with the client scope on
 * the workers.  Returns the statement to run (parsetree if unchanged).
 */
extern Node *dbcore_citus_copy_to_query(Node *parsetree);

#endif							/* DBCORE_CITUS_H */
