/*-------------------------------------------------------------------------
 *
 * audit_log.c
 *		dbcore.audit_log, the append-only log of the audit trail: writing a
 *		row (for the trigger in audit.c), the guard that keeps it
 *		append-only, and dbcore.purge_audit().
 *
 * The trigger writes the log the way PostgreSQL writes its catalogs: a heap
 * insert and one insert per index, in C, without SPI and without the
 * executor.  Nobody is granted INSERT on the log, so no role can write a
 * row of its own; the trigger writes as the modifying role, evaluating
 * nothing on the log (it has no defaults, constraints or triggers that an
 * insert would run, and an index on expressions or with a predicate is
 * refused rather than evaluated).
 *
 * The log and its indexes are opened once per statement (the writer lives
 * in the trigger's per-statement memory) and closed when that memory goes.
 * The references to them, and the buffers an index keeps pinned between
 * rows (BRIN), belong to a resource owner of the writer's own under the
 * transaction's, so that they outlive the portal of a statement whose
 * memory outlives it (COPY); the locks belong to the statement, as usual.
 * A (sub)transaction that aborts releases the writers opened in it.
 * Its row numbers come from the log's
 * sequence (CACHE 1, so that numbers follow the order in which a row's
 * changes were written: a later change of a row waits for the lock of the
 * earlier one).
 *
 * UPDATE, DELETE and TRUNCATE of the log are refused by a statement
 * trigger, to everyone, except the DELETE that dbcore.purge_audit() runs
 * for a role with system-level authorization.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/hio.h"
#include "access/table.h"
#include "access/xact.h"
#include "lib/ilist.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/execnodes.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"
#include "utils/xid8.h"

#include "audit.h"
#include "common.h"
#include "compat.h"

/* The log's columns, by name (their order is the table's business). */
typedef enum AuditLogColumn
{
	LOG_ID,
	LOG_LOGGED_AT,
	LOG_XACT_ID,
	LOG_TBL,
	LOG_TABLE_NAME,
	LOG_OP,
	LOG_ROW_KEY,
	LOG_OLD_VALUES,
	LOG_NEW_VALUES,
	LOG_CLIENT_ID,
	LOG_DB_ROLE,
	LOG_ACTOR,
	LOG_NCOLUMNS
} AuditLogColumn;

/* More indexes on the log than this are refused. */
#define LOG_MAX_INDEXES 8

static const char *const log_column_names[LOG_NCOLUMNS] = {
	[LOG_ID] = "id",
	[LOG_LOGGED_AT] = "logged_at",
	[LOG_XACT_ID] = "xact_id",
	[LOG_TBL] = "tbl",
	[LOG_TABLE_NAME] = "table_name",
	[LOG_OP] = "op",
	[LOG_ROW_KEY] = "row_key",
	[LOG_OLD_VALUES] = "old_values",
	[LOG_NEW_VALUES] = "new_values",
	[LOG_CLIENT_ID] = "client_id",
	[LOG_DB_ROLE] = "db_role",
	[LOG_ACTOR] = "actor",
};

/*
 * Where the log's columns and indexes are: worked out once per session (per
 * schema dbcore is in), forgotten when the log's relcache entry or its
 * sequence's is invalidated (ALTER TABLE, CREATE INDEX, DROP EXTENSION).
 */
typedef struct AuditLogLayout
{
	bool		valid;
	Oid			nspoid;
	Oid			logrelid;
	Oid			seqrelid;
	int			natts;
	int			attnum[LOG_NCOLUMNS];	/* 0-based position of each column */
	int			nindexes;
	Oid			indexoids[LOG_MAX_INDEXES];
} AuditLogLayout;

static AuditLogLayout layout;

struct AuditLogWriter
{
	Oid			nspoid;
	MemoryContext cxt;			/* the statement's: the writer lives there */

	/* Open for the statement (see writer_open()) */
	AuditLogLayout lay;			/* the layout when it was opened */
	bool		open;
	bool		writing;		/* in dbcore_audit_log_write() */
	Relation	rel;
	int			nindexes;
	Relation	indexes[LOG_MAX_INDEXES];
	IndexInfo  *indexinfos[LOG_MAX_INDEXES];
	BulkInsertState bistate;	/* keeps the log's last page pinned */
	ResourceOwner owner;		/* the writer's: references and pins */
	SubTransactionId subid;		/* where the locks were taken */
	dlist_node	node;			/* in open_writers */
	MemoryContextCallback on_reset;
};

/* The writers that hold the log open, newest first. */
static dlist_head open_writers = DLIST_STATIC_INIT(open_writers);

/* True while purge_audit() deletes: the guard lets that DELETE through. */
static bool purging = false;

static void
log_missing(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("dbcore's audit log is incomplete: %s is missing", what),
			 errhint("Update the extension: ALTER EXTENSION dbcore UPDATE.")));
}

/*
 * Release what the writer holds: closing the indexes and the log properly,
 * or (cleanup false: an aborting transaction, or a write that failed half
 * way) letting its resource owner drop the references and pins quietly.
 */
static void
writer_close(AuditLogWriter *w, bool cleanup)
{
	ResourceOwner saved = CurrentResourceOwner;
	int			i;

	if (!w->open)
		return;
	dlist_delete(&w->node);
	w->open = false;
	if (cleanup)
	{
		CurrentResourceOwner = w->owner;
		if (w->bistate != NULL)
			ReleaseBulkInsertStatePin(w->bistate);
		for (i = 0; i < w->nindexes; i++)
		{
			dbcore_compat_index_insert_cleanup(w->indexes[i], w->indexinfos[i]);
			index_close(w->indexes[i], NoLock);
		}
		table_close(w->rel, NoLock);
		CurrentResourceOwner = saved;
	}
	ResourceOwnerRelease(w->owner, RESOURCE_RELEASE_BEFORE_LOCKS, cleanup, false);
	ResourceOwnerRelease(w->owner, RESOURCE_RELEASE_LOCKS, cleanup, false);
	ResourceOwnerRelease(w->owner, RESOURCE_RELEASE_AFTER_LOCKS, cleanup, false);
	ResourceOwnerDelete(w->owner);
	w->owner = NULL;
	if (w->bistate != NULL)
	{
		/* (the pin, if any, went with the owner) */
		w->bistate->current_buf = InvalidBuffer;
		FreeBulkInsertState(w->bistate);
		w->bistate = NULL;
	}
	w->rel = NULL;
	w->nindexes = 0;
}

/* The statement's memory goes: close the log. */
static void
writer_on_reset(void *arg)
{
	AuditLogWriter *w = (AuditLogWriter *) arg;

	writer_close(w, IsTransactionState() && !w->writing);
}

/*
 * Close the writers opened since subtransaction subid (all of them for
 * InvalidSubTransactionId): before the transaction's resource owners let go
 * of their locks.  After a commit there should be none left open.
 */
static void
close_writers_since(SubTransactionId subid, bool cleanup)
{
	dlist_mutable_iter iter;

	dlist_foreach_modify(iter, &open_writers)
	{
		AuditLogWriter *w = dlist_container(AuditLogWriter, node, iter.cur);

		if (subid == InvalidSubTransactionId || w->subid >= subid)
			writer_close(w, cleanup && !w->writing);
	}
}

static void
writers_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_PRE_COMMIT || event == XACT_EVENT_PRE_PREPARE)
		close_writers_since(InvalidSubTransactionId, true);
	else if (event == XACT_EVENT_ABORT)
		close_writers_since(InvalidSubTransactionId, false);
}

static void
writers_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						 SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		close_writers_since(mySubid, false);
}

static void
layout_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == layout.logrelid || relid == layout.seqrelid)
		layout.valid = false;
}

void
dbcore_audit_log_init(void)
{
	RegisterXactCallback(writers_xact_callback, NULL);
	RegisterSubXactCallback(writers_subxact_callback, NULL);
	dbcore_register_relcache_callback(layout_relcache_callback, (Datum) 0);
}

AuditLogWriter *
dbcore_audit_log_writer(Oid nspoid, MemoryContext cxt)
{
	AuditLogWriter *w = (AuditLogWriter *) MemoryContextAllocZero(cxt, sizeof(AuditLogWriter));

	w->nspoid = nspoid;
	w->cxt = cxt;
	w->on_reset.func = writer_on_reset;
	w->on_reset.arg = w;
	MemoryContextRegisterResetCallback(cxt, &w->on_reset);
	return w;
}

/*
 * Work out the layout of the log of dbcore in schema nspoid: the columns'
 * positions by name, and its indexes, plain column ones only (nothing to
 * evaluate).  Locks the log, as the writer does.
 */
static void
layout_compute(Oid nspoid)
{
	Relation	rel;
	TupleDesc	desc;
	List	   *indexes;
	ListCell   *lc;
	int			i;

	layout.valid = false;
	layout.nspoid = nspoid;
	layout.logrelid = get_relname_relid(AUDIT_LOG_TABLE, nspoid);
	layout.seqrelid = get_relname_relid(AUDIT_LOG_SEQUENCE, nspoid);
	if (!OidIsValid(layout.logrelid))
		log_missing("table " AUDIT_LOG_TABLE);
	if (!OidIsValid(layout.seqrelid))
		log_missing("sequence " AUDIT_LOG_SEQUENCE);

	rel = table_open(layout.logrelid, RowExclusiveLock);
	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->rd_rel->relam != HEAP_TABLE_AM_OID)
		log_missing("a heap table " AUDIT_LOG_TABLE);
	desc = RelationGetDescr(rel);
	layout.natts = desc->natts;
	for (i = 0; i < LOG_NCOLUMNS; i++)
	{
		Form_pg_attribute attr = dbcore_find_column(desc, log_column_names[i]);

		if (attr == NULL)
			log_missing(psprintf("column %s", log_column_names[i]));
		layout.attnum[i] = attr->attnum - 1;
	}

	indexes = RelationGetIndexList(rel);
	if (list_length(indexes) > LOG_MAX_INDEXES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("dbcore's audit log has more than %d indexes", LOG_MAX_INDEXES),
				 errhint("Drop the indexes you added to it.")));
	layout.nindexes = 0;
	foreach(lc, indexes)
	{
		Relation	index = index_open(lfirst_oid(lc), RowExclusiveLock);
		IndexInfo  *ii = BuildIndexInfo(index);

		if (ii->ii_Expressions != NIL || ii->ii_Predicate != NIL ||
			ii->ii_ExclusionOps != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("index \"%s\" on dbcore's audit log has expressions, a predicate or an exclusion constraint",
							RelationGetRelationName(index)),
					 errdetail("The audit trigger maintains plain column indexes only."),
					 errhint("Drop the index, or index plain columns.")));
		layout.indexoids[layout.nindexes++] = lfirst_oid(lc);
		index_close(index, NoLock);
	}
	list_free(indexes);
	table_close(rel, NoLock);
	layout.valid = true;
}

/*
 * Open the log and its indexes for the rest of the statement.  Taking the
 * lock may take in invalidations that make the layout stale: work it out
 * again, under the lock, until it stands.
 */
static void
writer_open(AuditLogWriter *w)
{
	ResourceOwner saved = CurrentResourceOwner;
	MemoryContext old;
	int			i;

	Assert(TopTransactionResourceOwner != NULL);
	if (layout.valid && layout.nspoid == w->nspoid)
		LockRelationOid(layout.logrelid, RowExclusiveLock);
	while (!layout.valid || layout.nspoid != w->nspoid)
		layout_compute(w->nspoid);
	for (i = 0; i < layout.nindexes; i++)
		LockRelationOid(layout.indexoids[i], RowExclusiveLock);
	w->lay = layout;

	w->owner = ResourceOwnerCreate(TopTransactionResourceOwner, "dbcore audit log");
	w->subid = GetCurrentSubTransactionId();
	w->nindexes = 0;
	w->open = true;
	dlist_push_head(&open_writers, &w->node);
	CurrentResourceOwner = w->owner;
	w->rel = table_open(w->lay.logrelid, NoLock);
	for (i = 0; i < w->lay.nindexes; i++)
		w->indexes[w->nindexes++] = index_open(w->lay.indexoids[i], NoLock);
	CurrentResourceOwner = saved;

	/* IndexInfos live as long as the writer: an index AM keeps state there. */
	old = MemoryContextSwitchTo(w->cxt);
	for (i = 0; i < w->nindexes; i++)
		w->indexinfos[i] = BuildIndexInfo(w->indexes[i]);

	/*
	 * The statement's rows go to the log's last page, kept pinned between
	 * rows, and the log grows by several pages at a time when a statement
	 * writes many, as COPY does; but through shared buffers as any INSERT
	 * (no ring of COPY's: its reuse would write pages and flush WAL in the
	 * statement).
	 */
	w->bistate = GetBulkInsertState();
	FreeAccessStrategy(w->bistate->strategy);
	w->bistate->strategy = NULL;
	MemoryContextSwitchTo(old);
}

void
dbcore_audit_log_write(AuditLogWriter *w, const AuditLogRow *row)
{
	ResourceOwner saved = CurrentResourceOwner;
	Datum	   *values;
	bool	   *nulls;
	HeapTuple	tuple;
	int			i;

	if (!w->open)
		writer_open(w);
	else if (RelationGetDescr(w->rel)->natts != w->lay.natts)
		log_missing("the table it had when the statement started");
	values = (Datum *) palloc0(sizeof(Datum) * w->lay.natts);
	nulls = (bool *) palloc(sizeof(bool) * w->lay.natts);
	memset(nulls, true, sizeof(bool) * w->lay.natts);
#define SET(col, value) (values[w->lay.attnum[col]] = (value), nulls[w->lay.attnum[col]] = false)
	SET(LOG_ID, Int64GetDatum(nextval_internal(w->lay.seqrelid, false)));
	SET(LOG_LOGGED_AT, TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()));
	SET(LOG_XACT_ID, FullTransactionIdGetDatum(GetTopFullTransactionId()));
	SET(LOG_TBL, ObjectIdGetDatum(row->tbl));
	SET(LOG_TABLE_NAME, row->table_name);
	SET(LOG_OP, CStringGetTextDatum(row->op));
	SET(LOG_DB_ROLE, row->db_role);
	if (row->row_key != (Datum) 0)
		SET(LOG_ROW_KEY, row->row_key);
	if (row->old_values != NULL)
		SET(LOG_OLD_VALUES, JsonbPGetDatum(row->old_values));
	if (row->new_values != NULL)
		SET(LOG_NEW_VALUES, JsonbPGetDatum(row->new_values));
	if (row->client_id != (Datum) 0)
		SET(LOG_CLIENT_ID, row->client_id);
	if (row->actor != (Datum) 0)
		SET(LOG_ACTOR, row->actor);
#undef SET

	/* What an index AM keeps between rows belongs to the writer's owner. */
	w->writing = true;
	CurrentResourceOwner = w->owner;
	tuple = heap_form_tuple(RelationGetDescr(w->rel), values, nulls);
	heap_insert(w->rel, tuple, GetCurrentCommandId(true), 0, w->bistate);

	/* One entry per index, as CatalogIndexInsert() does. */
	for (i = 0; i < w->nindexes; i++)
	{
		IndexInfo  *ii = w->indexinfos[i];
		Datum		ivalues[INDEX_MAX_KEYS];
		bool		inulls[INDEX_MAX_KEYS];
		int			k;

		for (k = 0; k < ii->ii_NumIndexAttrs; k++)
		{
			AttrNumber	attnum = ii->ii_IndexAttrNumbers[k];

			ivalues[k] = values[attnum - 1];
			inulls[k] = nulls[attnum - 1];
		}
		(void) index_insert(w->indexes[i], ivalues, inulls, &tuple->t_self, w->rel,
							ii->ii_Unique ? UNIQUE_CHECK_YES : UNIQUE_CHECK_NO,
							false, ii);
	}
	CurrentResourceOwner = saved;
	w->writing = false;
}

/* ----------------------------------------------------------------
 * Append-only
 * ----------------------------------------------------------------
 */

/*
 * dbcore._audit_log_guard(): BEFORE UPDATE OR DELETE OR TRUNCATE FOR EACH
 * STATEMENT on dbcore.audit_log.
 */
PG_FUNCTION_INFO_V1(dbcore_audit_log_guard);
Datum
dbcore_audit_log_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function dbcore._audit_log_guard() was not called by trigger manager")));
	if (purging && TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		return PointerGetDatum(NULL);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("dbcore's audit log is append-only"),
			 errdetail("Its rows can be neither changed nor removed, except by dbcore.purge_audit()."),
			 errhint("Run SELECT dbcore.purge_audit('<interval>') as a superuser or a role with BYPASSRLS to remove old rows.")));
	return PointerGetDatum(NULL);	/* keep compiler quiet */
}

/*
 * dbcore.purge_audit(older_than interval) RETURNS bigint
 *
 * Removes the log rows written longer than older_than ago (by transaction
 * timestamp), for roles with system-level authorization.  A plain DELETE
 * as the log's owner: it takes the lock every writer takes (ROW EXCLUSIVE),
 * so writers go on while it runs, and it finds the rows through the log's
 * BRIN index on logged_at.
 */
PG_FUNCTION_INFO_V1(dbcore_purge_audit);
Datum
dbcore_purge_audit(PG_FUNCTION_ARGS)
{
	Oid			nspoid = dbcore_schema_of(fcinfo);
	Oid			logrelid = get_relname_relid(AUDIT_LOG_TABLE, nspoid);
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	Datum		cutoff;
	Oid			argtypes[1] = {TIMESTAMPTZOID};
	Datum		values[1];
	DbcoreIdentity saved;
	uint64		purged = 0;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("older_than must not be null")));
	if (!dbcore_has_system_authorization(GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to purge dbcore's audit log"),
				 errdetail("Removing audit history needs system-level authorization."),
				 errhint("Run it as a superuser or a role with BYPASSRLS.")));
	cutoff = DirectFunctionCall2(timestamptz_mi_interval, TimestampTzGetDatum(now),
								 PG_GETARG_DATUM(0));
	if (DatumGetTimestampTz(cutoff) > now)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("older_than must not be negative")));
	if (!OidIsValid(logrelid))
		log_missing("table " AUDIT_LOG_TABLE);
	values[0] = cutoff;

	dbcore_spi_enter_as(dbcore_relation_owner(logrelid), &saved);
	purging = true;
	PG_TRY();
	{
		dbcore_check_spi(SPI_execute_with_args(psprintf("DELETE FROM %s.%s l WHERE l.logged_at OPERATOR(pg_catalog.<) $1",
														quote_identifier(get_namespace_name(nspoid)),
														AUDIT_LOG_TABLE),
											   1, argtypes, values, NULL, false, 0),
						 SPI_OK_DELETE);
		purged = SPI_processed;
	}
	PG_FINALLY();
	{
		purging = false;
	}
	PG_END_TRY();
	dbcore_spi_leave(&saved);
	PG_RETURN_INT64((int64) purged);
}
