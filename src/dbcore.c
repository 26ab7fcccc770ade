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

/* dbcore.allow_out_of_order: see migrate.c. */
bool		dbcore_allow_out_of_order = false;

void
_PG_init(void)
{
	dbcore_updated_at_init();

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
