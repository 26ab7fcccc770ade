/*-------------------------------------------------------------------------
 *
 * guard_rails.c
 *		The guard rails: dbcore's event triggers keep tenant-scoped tables
 *		intact through DDL.
 *
 * After every DDL command, the scoped tables in dbcore.tenant_tables must
 * still be intact (dbcore.tenant_scoping_problems() lists what is not).  A
 * command run by a role without system-level authorization must not add a
 * problem; problems that were there before it started (left by a superuser,
 * say) are not its doing, so unrelated DDL keeps working.  Before the
 * command, DDL that would evaluate every client's rows or let other
 * clients' rows in is refused (ddl_risks.c).  At the end of every DDL
 * command, new and attached partitions of scoped partitioned tables are
 * scoped, and detached ones keep their guard.
 *
 * Who does what (doc/security.md has the whole list):
 *	- reading the registry and the system catalogs, and writing the
 *	  registry, happens as the registry's owner (tenant_registry.c), so the
 *	  invoking role needs no rights on schema dbcore;
 *	- scoping a table (its policies, triggers and NOT NULL) happens as the
 *	  table's owner, with dbcore_become();
 *	- looking at a user's table (does it hold rows, and whose?) and dropping
 *	  a trigger before ATTACH PARTITION happen as the caller, in C, without
 *	  SQL: nothing the table's owner defined (views, rules, policies,
 *	  functions, casts, domains, defaults, index expressions, triggers) is
 *	  evaluated, and only after the caller is found to own the table.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_class.h"
#include "catalog/pg_trigger.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "citus.h"
#include "audit.h"
#include "common.h"
#include "compat.h"
#include "ddl_risks.h"
#include "guard_rails.h"
#include "soft_delete.h"
#include "tenant_registry.h"

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

/* The transaction's DDL frames go with its memory. */
static void
guard_rails_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
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
guard_rails_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
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

void
dbcore_guard_rails_init(void)
{
	RegisterXactCallback(guard_rails_xact_callback, NULL);
	RegisterSubXactCallback(guard_rails_subxact_callback, NULL);
}

static void
require_event_trigger(FunctionCallInfo fcinfo, const char *funcname)
{
	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function %s was not called by event trigger manager",
						funcname)));
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
 * soft-delete trigger goes when it marks the same column (the clone may
 * also fire BEFORE UPDATE, to tell row movement apart); dbcore's updated_at
 * and audit triggers go when the clone will do exactly what they did.  Any
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
	Oid			audit_fn;
	Oid			soft_delete_fn;
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
	audit_fn = dbcore_function_oid(nspoid, AUDIT_FUNCTION);
	soft_delete_fn = dbcore_function_oid(nspoid, SOFT_DELETE_FUNCTION);
	prel = table_open(parent, AccessShareLock);
	crel = table_open(part, AccessShareLock);
	if (prel->trigdesc != NULL && crel->trigdesc != NULL)
	{
		for (i = 0; i < prel->trigdesc->numtriggers; i++)
		{
			const Trigger *pt = &prel->trigdesc->triggers[i];

			if (!OidIsValid(pt->tgfoid) ||
				(pt->tgfoid != guard_fn && pt->tgfoid != updated_at_fn &&
				 pt->tgfoid != audit_fn && pt->tgfoid != soft_delete_fn))
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
					: pt->tgfoid == soft_delete_fn
					? (ct->tgfoid == soft_delete_fn && ct->tgnargs == 1 &&
					   pt->tgnargs == 1 && strcmp(ct->tgargs[0], pt->tgargs[0]) == 0)
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

/*
 * Scope one table, with dbcore._tenant_scope_one(), as the table's owner
 * (inside SPI): its DDL runs with the rights of the role it belongs to, in
 * a security-restricted operation, never as the extension's owner.  The
 * owner needs USAGE on dbcore's schema, as enable_tenant_scoping() does.
 * False if the table no longer exists.
 */
static bool
scope_as_owner(const DbcoreRegistry *reg, Oid relid, const char *colname)
{
	HeapTuple	tuple;
	Oid			owner;
	Oid			argtypes[2] = {REGCLASSOID, TEXTOID};
	Datum		values[2];
	DbcoreIdentity saved;
	int			ret;

	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tuple))
		return false;			/* dropped since the registry was read */
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);

	if (dbcore_compat_namespace_aclcheck(reg->nspoid, owner, ACL_USAGE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot tenant-scope table \"%s\" as its owner \"%s\"",
						dbcore_rel_name(relid), GetUserNameFromId(owner, false)),
				 errdetail("A partition of a tenant-scoped table is scoped with the rights of its owner, which needs USAGE on schema %s.",
						   reg->nspname),
				 errhint("Grant it with GRANT USAGE ON SCHEMA %s TO %s, or give the table another owner.",
						 reg->nspname, quote_identifier(GetUserNameFromId(owner, false)))));

	values[0] = ObjectIdGetDatum(relid);
	values[1] = CStringGetTextDatum(colname);
	dbcore_become(owner, &saved);
	ret = SPI_execute_with_args(psprintf("SELECT %s._tenant_scope_one($1, $2::pg_catalog.name)",
										 reg->nspname),
								2, argtypes, values, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	dbcore_unbecome(&saved);
	return true;
}

/*
 * The problems of every scoped and every audited table, as "relid/check
 * name" keys (and, with details, (table, detail) pairs), in cxt.
 */
static List *
all_problems(const DbcoreRegistry *reg, MemoryContext cxt, List **details)
{
	List	   *keys = dbcore_registry_problems(reg, cxt, details);
	List	   *audit = dbcore_audit_problems(reg, cxt, details);
	MemoryContext old;

	/*
	 * list_concat() copies the second list when the first is empty, in the
	 * current memory context: the result must live in cxt too (the frame of
	 * a DDL command keeps it until ddl_command_end).
	 */
	old = MemoryContextSwitchTo(cxt);
	keys = list_concat(keys, audit);
	MemoryContextSwitchTo(old);
	return keys;
}

/*
 * The end-of-command work: scope new partitions, keep detached ones guarded
 * (each as its owner, then registered as the registry's owner), and (with
 * check) list the problems now.
 */
static List *
after_ddl(FunctionCallInfo fcinfo, Node *parsetree, bool check, List **details)
{
	DbcoreRegistry reg;
	List	   *volatile keys = NIL;

	dbcore_registry_open(fcinfo, &reg);
	in_guard_rails = true;
	PG_TRY();
	{
		int			pass;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		for (pass = 0; pass < 2; pass++)
		{
			ListCell   *lc;

			foreach(lc, dbcore_registry_pending(&reg, pass == 0))
			{
				DbcorePendingScope *p = (DbcorePendingScope *) lfirst(lc);

				/*
				 * A table gone by now (dropped by the command, or by another
				 * session since a REPEATABLE READ snapshot listed it) is
				 * not registered.
				 */
				if (scope_as_owner(&reg, p->relid, p->colname))
					dbcore_registry_add(&reg, p);
			}
		}
		SPI_finish();
		/* soft delete on partitions created, attached or detached */
		dbcore_soft_delete_after_ddl(parsetree, reg.nspoid);
		if (check)
			keys = all_problems(&reg, TopTransactionContext, details);
	}
	PG_FINALLY();
	{
		in_guard_rails = false;
	}
	PG_END_TRY();
	return keys;
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
		risks = dbcore_ddl_risks(parsetree);
	if (attach != NIL || frame->check)
	{
		DbcoreRegistry reg;

		dbcore_registry_open(fcinfo, &reg);
		in_guard_rails = true;
		PG_TRY();
		{
			ListCell   *lc;

			/* registry reads as its owner; the judging as the caller */
			dbcore_refuse_ddl_risks((List *) risks, &reg);
			if (frame->check)
			{
				dbcore_citus_refuse_shard_weakening(parsetree, &reg);
				dbcore_audit_refuse_ddl(parsetree, &reg);
			}
			foreach(lc, attach)
				prepare_attach(reg.nspoid, linitial_oid((List *) lfirst(lc)),
							   lsecond_oid((List *) lfirst(lc)));
			if (frame->check)
				frame->problems = all_problems(&reg, TopTransactionContext, NULL);
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
	bool		audit = false;
	StringInfoData what;
	Node	   *parsetree;

	require_event_trigger(fcinfo, "dbcore.tenant_ddl_end()");
	if (in_guard_rails || creating_extension)
		PG_RETURN_VOID();
	parsetree = ((EventTriggerData *) fcinfo->context)->parsetree;

	/* Citus copies dbcore's restrictive policy as a permissive one. */
	dbcore_citus_policy_created(((EventTriggerData *) fcinfo->context)->parsetree);

	if (ddl_frames != NIL)
	{
		frame = (DdlFrame *) llast(ddl_frames);
		ddl_frames = list_delete_last(ddl_frames);
	}

	/* No frame: the command started before dbcore's triggers existed. */
	if (frame == NULL || !frame->check)
	{
		(void) after_ddl(fcinfo, parsetree, false, NULL);
		PG_RETURN_VOID();
	}

	now_keys = after_ddl(fcinfo, parsetree, true, &details);
	initStringInfo(&what);
	forboth(lk, now_keys, ld, details)
	{
		List	   *d = (List *) lfirst(ld);

		if (key_in_list(frame->problems, (const char *) lfirst(lk)))
			continue;
		/* Report the first table that got a new problem, of one kind. */
		if (table == NULL)
		{
			table = (const char *) linitial(d);
			audit = dbcore_audit_problem_key((const char *) lfirst(lk));
		}
		else if (strcmp(table, (const char *) linitial(d)) != 0 ||
				 audit != dbcore_audit_problem_key((const char *) lfirst(lk)))
			continue;
		appendStringInfo(&what, "%s%s", what.len > 0 ? "; " : "",
						 (const char *) lsecond(d));
	}
	if (table != NULL && audit)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to weaken the audit trail of table \"%s\"", table),
				 errdetail("After this command: %s.", what.data),
				 errhint("Only a superuser or a role with BYPASSRLS may do this; or such a role first calls dbcore.disable_audit().")));
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
	DbcoreRegistry reg;

	require_event_trigger(fcinfo, "dbcore.tenant_sql_drop()");
	if (in_guard_rails || creating_extension)
		PG_RETURN_VOID();

	dbcore_registry_open(fcinfo, &reg);
	in_guard_rails = true;
	PG_TRY();
	{
		dbcore_registry_forget_dropped(&reg);
		dbcore_audit_forget_dropped(&reg);
	}
	PG_FINALLY();
	{
		in_guard_rails = false;
	}
	PG_END_TRY();
	PG_RETURN_VOID();
}
