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
#include "fmgr.h"

#include "common.h"

/* updated_at.c: defines dbcore.auto_updated_at */
extern void dbcore_updated_at_init(void);

/* tenant.c: defines the tenant scoping settings and callbacks */
extern void dbcore_tenant_init(void);

/* tenant.c: the current client as a Datum of the given type, with the
 * errors of dbcore.current_client_id() when no valid scope is set */
extern Datum dbcore_current_client_datum(Oid typid);
extern Datum dbcore_current_client_id(PG_FUNCTION_ARGS);
extern Datum dbcore_current_client_id_text(PG_FUNCTION_ARGS);
extern Datum dbcore_current_client_id_bigint(PG_FUNCTION_ARGS);
extern Datum dbcore_current_client_id_int(PG_FUNCTION_ARGS);

/* scope_plan.c: the planner hook for the client scope's init-plans */
extern void dbcore_scope_plan_init(void);

/* dbcore.allow_out_of_order: apply/revert migrations out of version order. */
extern bool dbcore_allow_out_of_order;

#endif							/* DBCORE_H */
