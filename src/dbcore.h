/*-------------------------------------------------------------------------
 *
 * dbcore.h
 *		Declarations shared between dbcore's C files.
 *
 *-------------------------------------------------------------------------
 */
#ifndef DBCORE_H
#define DBCORE_H

#include "access/tupdesc.h"

/* The live (not dropped) column of that name in tupdesc, or NULL. */
extern Form_pg_attribute dbcore_find_column(TupleDesc tupdesc, const char *colname);

/* tenant.c: defines the tenant scoping settings and callbacks */
extern void dbcore_tenant_init(void);

/* dbcore.allow_out_of_order: apply/revert migrations out of version order. */
extern bool dbcore_allow_out_of_order;

#endif							/* DBCORE_H */
