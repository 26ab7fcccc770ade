/*-------------------------------------------------------------------------
 *
 * scope_plan.h
 *		The planner hook for the client scope's init-plans (scope_plan.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef DBCORE_SCOPE_PLAN_H
#define DBCORE_SCOPE_PLAN_H

/* Defines dbcore.optimize_scope_plans and installs the planner hook. */
extern void dbcore_scope_plan_init(void);

/*
 * Is funcid one of this library's client functions
 * (dbcore.current_client_id*())?  Its result type, or InvalidOid.
 */
extern Oid	dbcore_client_function_type(Oid funcid);

/*
 * The checks of a call of client function funcid (EXECUTE, the object
 * access hook), for plans that read the client in its place.
 */
extern void dbcore_client_function_check_execute(Oid funcid);

#endif							/* DBCORE_SCOPE_PLAN_H */
