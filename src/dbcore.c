/*-------------------------------------------------------------------------
 *
 * dbcore.c
 *		Module entry point: the module magic block and the settings that
 *		every part of dbcore shares.
 *
 * Each capability lives in its own file (updated_at.c, tenant.c, ...); this file
 * holds only what truly is shared.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "dbcore.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* dbcore.auto_updated_at: attach the updated_at trigger to new tables. */
static bool dbcore_auto_updated_at = false;

/* dbcore.allow_out_of_order: see migrate.c. */
bool		dbcore_allow_out_of_order = false;

void
_PG_init(void)
{
	DefineCustomBoolVariable("dbcore.auto_updated_at",
							 "Attaches dbcore.updated_at() to every new table that has an \"updated_at\" column.",
							 "Read by the dbcore_auto_updated_at event trigger when a table is created.",
							 &dbcore_auto_updated_at,
							 false,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	dbcore_tenant_init();

	DefineCustomBoolVariable("dbcore.allow_out_of_order",
							 "Lets migrations be applied or reverted out of version order.",
							 "Off: dbcore.apply_migration() refuses a version lower than the newest applied one, and dbcore.revert_migration() refuses any but the newest.",
							 &dbcore_allow_out_of_order,
							 false,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	MarkGUCPrefixReserved("dbcore");
}

/*
 * Find a column by name in a relation's own descriptor, as the row triggers
 * do once per trigger: partitions and inheritance children may order (and
 * drop) their columns differently from their parent.
 */
Form_pg_attribute
dbcore_find_column(TupleDesc tupdesc, const char *colname)
{
	int			i;

	for (i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(tupdesc, i);

		if (!a->attisdropped && strcmp(NameStr(a->attname), colname) == 0)
			return a;
	}
	return NULL;
}
