/*-------------------------------------------------------------------------
 *
 * audit.h
 *		The audit trail: the trigger and dbcore.actor (audit.c), the log
 *		(audit_log.c), the registry of audited tables and its guard rails
 *		(audit_registry.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef DBCORE_AUDIT_H
#define DBCORE_AUDIT_H

#include "fmgr.h"
#include "nodes/pg_list.h"
#include "utils/jsonb.h"

#include "tenant_registry.h"

#define AUDIT_FUNCTION			"audit"
#define AUDIT_LOG_TABLE			"audit_log"
#define AUDIT_LOG_SEQUENCE		"audit_log_id_seq"
#define AUDIT_REGISTRY_TABLE	"audited_tables"

/* Defines dbcore.actor and its transaction callback (audit.c). */
extern void dbcore_audit_init(void);

/* ----------------------------------------------------------------
 * audit_log.c: writing dbcore.audit_log
 * ----------------------------------------------------------------
 */

/* One log row; the log fills in its number, the time and the transaction. */
typedef struct AuditLogRow
{
	Oid			tbl;
	Datum		table_name;		/* text */
	const char *op;
	Datum		row_key;		/* text, or 0 for none */
	Jsonb	   *old_values;		/* or NULL */
	Jsonb	   *new_values;		/* or NULL */
	Datum		client_id;		/* text, or 0 for none */
	Datum		db_role;		/* text */
	Datum		actor;			/* text, or 0 for none */
} AuditLogRow;

/*
 * What writing the log needs, worked out once per statement, in the
 * statement's memory cxt; it holds the log open until cxt goes.
 */
typedef struct AuditLogWriter AuditLogWriter;

/* Registers the callbacks that forget writers of ended transactions. */
extern void dbcore_audit_log_init(void);

extern AuditLogWriter *dbcore_audit_log_writer(Oid nspoid, MemoryContext cxt);
extern void dbcore_audit_log_write(AuditLogWriter *writer, const AuditLogRow *row);

/* ----------------------------------------------------------------
 * audit_registry.c: dbcore.audited_tables and the guard rails
 * ----------------------------------------------------------------
 */

/*
 * Broken audit triggers of every audited table (dbcore.audit_problems()),
 * as "relid/check name" keys and, with details, (table, detail) pairs, in
 * cxt; NIL when this version of the SQL objects has no audit trail yet.
 */
extern List *dbcore_audit_problems(const DbcoreRegistry *reg, MemoryContext cxt,
								   List **details);

/* Is this problem key one of dbcore_audit_problems()'? */
extern bool dbcore_audit_problem_key(const char *key);

/*
 * Before a DDL command of a role without system-level authorization: refuse
 * to detach a partition from an audited table (it would leave the audit).
 */
extern void dbcore_audit_refuse_ddl(Node *parsetree, const DbcoreRegistry *reg);

/* Forget the audited tables the current DROP removed. */
extern void dbcore_audit_forget_dropped(const DbcoreRegistry *reg);

#endif							/* DBCORE_AUDIT_H */
