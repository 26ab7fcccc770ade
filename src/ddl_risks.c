/*-------------------------------------------------------------------------
 *
 * ddl_risks.c
 *		DDL that reads every client's rows, or lets other clients' rows in:
 *		what the guard rails refuse to roles without system-level
 *		authorization, at ddl_command_start.
 *
 * Row level security limits queries, not DDL: a table's owner can run
 * commands that evaluate expressions over all of its rows (rewriting a
 * column's type, validating a CHECK or a foreign key, building an index on
 * an expression), and their errors show the values they tripped on.  The
 * owner can also reference a scoped table from one that is not scoped
 * (foreign-key checks ignore row level security, so inserts probe for other
 * clients' keys) and attach a partition, or make a table inherit, that it
 * filled beforehand.  For a role without system-level authorization these
 * are refused before anything is evaluated.
 *
 * dbcore_ddl_risks() reads the parse tree (relation names are resolved with
 * the caller's search_path, as the command itself will); the registry is
 * then read for the tables it names; dbcore_refuse_ddl_risks() judges them
 * as the caller.  A check that looks at rows (is the table empty? does it
 * hold other clients' rows?) reads the heap in C, evaluating nothing, and
 * only for a caller who owns the table: anyone else is refused by
 * PostgreSQL itself, and must not learn from dbcore whether the table is
 * empty (doc/security.md).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/lmgr.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "citus.h"
#include "client_scope.h"
#include "common.h"
#include "compat.h"
#include "ddl_risks.h"
#include "tenant_registry.h"

/* What the command does, for the messages below. */
typedef enum DdlAction
{
	ACT_ALTER_TYPE,
	ACT_VALIDATE,
	ACT_ADD_CHECK,
	ACT_ADD_FOREIGN_KEY,
	ACT_ADD_EXCLUSION,
	ACT_ADD_CHECKED_COLUMN,
	ACT_ADD_GENERATED_COLUMN,
	ACT_CREATE_EXPRESSION_INDEX,
	ACT_CREATE_EXPRESSION_STATISTICS,
	ACT_ADD_PARTITION,
	ACT_SET_EXPRESSION,
	ACT_ENFORCE_CONSTRAINT,
	ACT_CREATE_UNIQUE_INDEX,
	ACT_ADD_UNIQUE_KEY,
	ACT_REFERENCE,
	ACT_ATTACH,
	ACT_INHERIT
} DdlAction;

/*
 * The primary message of each refusal of DDL that evaluates rows, or that
 * builds a unique key, whole (for translation); %s: the table, then (unique
 * keys) its client column.
 */
static const char *const refusal_messages[] = {
	[ACT_ALTER_TYPE] = gettext_noop("permission denied to change a column's type in tenant-scoped table \"%s\""),
	[ACT_VALIDATE] = gettext_noop("permission denied to validate a constraint of tenant-scoped table \"%s\""),
	[ACT_ADD_CHECK] = gettext_noop("permission denied to add a CHECK constraint to tenant-scoped table \"%s\""),
	[ACT_ADD_FOREIGN_KEY] = gettext_noop("permission denied to add a validated foreign key to tenant-scoped table \"%s\""),
	[ACT_ADD_EXCLUSION] = gettext_noop("permission denied to add an exclusion constraint with expressions or WHERE to tenant-scoped table \"%s\""),
	[ACT_ADD_CHECKED_COLUMN] = gettext_noop("permission denied to add a column with a CHECK constraint to tenant-scoped table \"%s\""),
	[ACT_ADD_GENERATED_COLUMN] = gettext_noop("permission denied to add a generated column to tenant-scoped table \"%s\""),
	[ACT_CREATE_EXPRESSION_INDEX] = gettext_noop("permission denied to create an index on expressions or with a WHERE clause on tenant-scoped table \"%s\""),
	[ACT_CREATE_EXPRESSION_STATISTICS] = gettext_noop("permission denied to create statistics on expressions of tenant-scoped table \"%s\""),
	[ACT_ADD_PARTITION] = gettext_noop("permission denied to add a partition whose bounds are checked against the rows of tenant-scoped table \"%s\""),
	[ACT_SET_EXPRESSION] = gettext_noop("permission denied to change a generated column's expression in tenant-scoped table \"%s\""),
	[ACT_ENFORCE_CONSTRAINT] = gettext_noop("permission denied to enforce a constraint of tenant-scoped table \"%s\""),
	[ACT_CREATE_UNIQUE_INDEX] = gettext_noop("permission denied to create a unique index on tenant-scoped table \"%s\" without its client column \"%s\""),
	[ACT_ADD_UNIQUE_KEY] = gettext_noop("permission denied to add a unique key to tenant-scoped table \"%s\" without its client column \"%s\""),
};

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
	DdlAction	action;			/* the command, for the message */
	List	   *keycols;		/* RISK_UNIQUE_KEY: key column names (char *) */
	Oid			other;			/* RISK_REFERENCE: referencing table, or
								 * InvalidOid; RISK_ATTACH: the partition or
								 * inheritance child */
	const char *other_name;		/* RISK_REFERENCE: name of a table being
								 * created */
	bool		other_scoped;	/* RISK_REFERENCE: the new table is a
								 * partition of a scoped table */
	/* from the registry (resolve_risks) */
	char	   *col;			/* relid's client column; NULL: not scoped */
	bool		other_registered;	/* RISK_REFERENCE: other is scoped */
} DdlRisk;

static List *
add_risk(List *risks, DdlRiskKind kind, Oid relid, DdlAction action)
{
	DdlRisk    *r;

	if (!OidIsValid(relid))
		return risks;
	r = (DdlRisk *) palloc0(sizeof(DdlRisk));
	r->kind = kind;
	r->relid = relid;
	r->owner_rel = relid;
	r->action = action;
	return lappend(risks, r);
}

static Oid
rangevar_relid(RangeVar *rv)
{
	return rv ? RangeVarGetRelid(rv, NoLock, true) : InvalidOid;
}

/*
 * Is an index predicate only "column IS [NOT] NULL" tests, ANDed (as the
 * partial unique indexes of soft delete, WHERE deleted_at IS NULL)?  Such
 * a test calls no function and cannot fail: building the index evaluates
 * nothing an error could show, as for an index without a predicate.
 */
static bool
null_test_predicate(Node *where)
{
	ListCell   *lc;

	if (where == NULL)
		return true;
	if (IsA(where, NullTest))
	{
		Node	   *arg = (Node *) ((NullTest *) where)->arg;

		return arg != NULL && IsA(arg, ColumnRef) &&
			list_length(((ColumnRef *) arg)->fields) == 1 &&
			IsA(linitial(((ColumnRef *) arg)->fields), String);
	}
	if (IsA(where, BoolExpr) && ((BoolExpr *) where)->boolop == AND_EXPR)
	{
		foreach(lc, ((BoolExpr *) where)->args)
			if (!null_test_predicate((Node *) lfirst(lc)))
				return false;
		return true;
	}
	return false;
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
				risks = add_risk(risks, RISK_EVALUATES_ROWS, relid, ACT_ADD_CHECK);
			break;
		case CONSTR_FOREIGN:
			/* (a new column holds its default only) */
			if (!con->skip_validation && !new_column)
				risks = add_risk(risks, RISK_EVALUATES_ROWS, relid, ACT_ADD_FOREIGN_KEY);
			r = (DdlRisk *) palloc0(sizeof(DdlRisk));
			r->kind = RISK_REFERENCE;
			r->relid = rangevar_relid(con->pktable);
			r->action = ACT_REFERENCE;
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
				risks = add_risk(risks, RISK_EVALUATES_ROWS, relid, ACT_ADD_EXCLUSION);
			break;
		default:
			break;
	}
	if (keys != NIL && OidIsValid(relid) && !OidIsValid(created_parent))
	{
		r = (DdlRisk *) palloc0(sizeof(DdlRisk));
		r->kind = RISK_UNIQUE_KEY;
		r->relid = relid;
		r->action = ACT_ADD_UNIQUE_KEY;
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
						 ACT_ADD_PARTITION);
		/* PostgreSQL requires the caller to own the partitioned table */
		((DdlRisk *) llast(risks))->owner_rel = parent;
	}
	return risks;
}

List *
dbcore_ddl_risks(Node *parsetree)
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
											 ACT_ALTER_TYPE);
							break;
						case AT_ValidateConstraint:
							risks = add_risk(risks, RISK_EVALUATES_ROWS, relid,
											 ACT_VALIDATE);
							break;
#if DBCORE_HAS_AT_SET_EXPRESSION
						case AT_SetExpression:
							/* recomputes a generated column over every row */
							risks = add_risk(risks, RISK_EVALUATES_ROWS, relid,
											 ACT_SET_EXPRESSION);
							break;
#endif
#if DBCORE_HAS_CONSTRAINT_ENFORCEABILITY
						case AT_AlterConstraint:
							/* NOT ENFORCED -> ENFORCED checks every row */
							if (cmd->def && IsA(cmd->def, ATAlterConstraint) &&
								((ATAlterConstraint *) cmd->def)->alterEnforceability &&
								((ATAlterConstraint *) cmd->def)->is_enforced)
								risks = add_risk(risks, RISK_EVALUATES_ROWS, relid,
												 ACT_ENFORCE_CONSTRAINT);
							break;
#endif
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
														 ACT_ADD_CHECKED_COLUMN :
														 ACT_ADD_GENERATED_COLUMN);
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
								r->action = ACT_ATTACH;
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
								r->action = ACT_INHERIT;
								r->other = relid;
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
				bool		has_expr = !null_test_predicate(stmt->whereClause);
				List	   *keys = index_key_names(stmt->indexParams, &has_expr);

				if (has_expr)
					risks = add_risk(risks, RISK_EVALUATES_ROWS, relid,
									 ACT_CREATE_EXPRESSION_INDEX);
				else if (stmt->unique && OidIsValid(relid))
				{
					DdlRisk    *r = (DdlRisk *) palloc0(sizeof(DdlRisk));

					r->kind = RISK_UNIQUE_KEY;
					r->relid = relid;
					r->action = ACT_CREATE_UNIQUE_INDEX;
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
									 ACT_CREATE_EXPRESSION_STATISTICS);
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

	/*
	 * Citus keeps a distributed table's rows in shards on other nodes: what
	 * is here says nothing, so it counts as holding such a row.
	 */
	if (dbcore_citus_has_shards(relid))
		return true;

	/* find_all_inheritors() locks the members below relid, not relid */
	LockRelationOid(relid, AccessShareLock);
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
			if (isnull || !dbcore_is_current_client(value, typid))
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
 * Fill in what the registry says about the risks' tables (reading the
 * registry as its owner, see tenant_registry.c).
 */
static void
resolve_risks(List *risks, const DbcoreRegistry *reg)
{
	ListCell   *lc;

	foreach(lc, risks)
	{
		DdlRisk    *r = (DdlRisk *) lfirst(lc);

		r->col = dbcore_registry_column(reg, r->relid);
		if (r->col != NULL && r->kind == RISK_REFERENCE && OidIsValid(r->other))
			r->other_registered = dbcore_registry_column(reg, r->other) != NULL;
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
		!dbcore_client_type_supported(typid))
		return;

	scoped = dbcore_scope_in_force() != NULL;
	if (!table_holds_row(r->other, scoped ? r->col : NULL, typid))
		return;
	if (r->action == ACT_INHERIT)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to make table \"%s\" inherit from tenant-scoped table \"%s\"",
						dbcore_rel_name(r->other), dbcore_rel_name(r->relid)),
				 scoped ?
				 errdetail("The table holds rows of other clients than the current one.") :
				 errdetail("The table holds rows, and no client scope is set."),
				 errhint("Let an empty table or one holding only the current client's rows inherit, or run ALTER TABLE ... INHERIT as a superuser or a role with BYPASSRLS.")));
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to attach table \"%s\" to tenant-scoped table \"%s\"",
					dbcore_rel_name(r->other), dbcore_rel_name(r->relid)),
			 scoped ?
			 errdetail("The table holds rows of other clients than the current one.") :
			 errdetail("The table holds rows, and no client scope is set."),
			 errhint("Attach an empty table or one holding only the current client's rows, or run ATTACH PARTITION as a superuser or a role with BYPASSRLS.")));
}

/*
 * Refuse the first risk that applies to a scoped table: after reading the
 * registry, as the caller.
 */
void
dbcore_refuse_ddl_risks(List *risks, const DbcoreRegistry *reg)
{
	ListCell   *lc;

	resolve_risks(risks, reg);
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
						 errmsg(refusal_messages[r->action], dbcore_rel_name(r->relid)),
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
								 errmsg(refusal_messages[r->action], dbcore_rel_name(r->relid), col),
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
								dbcore_rel_name(r->relid),
								r->other_name ? r->other_name : dbcore_rel_name(r->other)),
						 errdetail("Foreign-key checks ignore row level security: rows of a table that is not scoped could probe for other clients' keys."),
						 errhint("Create the table, call dbcore.enable_tenant_scoping() on it, then add the foreign key; or run the command as a superuser or a role with BYPASSRLS.")));
				break;
			case RISK_ATTACH:
				check_attach(r);
				break;
		}
	}
}
