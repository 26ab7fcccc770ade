/*-------------------------------------------------------------------------
 *
 * scope_route.h
 *		Citus: routing scoped queries to the current client's shard
 *		(scope_route.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef DBCORE_SCOPE_ROUTE_H
#define DBCORE_SCOPE_ROUTE_H

/* Defines dbcore.citus_routing; on Citus, installs the planner hook. */
extern void dbcore_scope_route_init(void);

#endif							/* DBCORE_SCOPE_ROUTE_H */
