/*-------------------------------------------------------------------------
 *
 * tenant_registry.h
 *		The registry of tenant-scoped tables (tenant_registry.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef DBCORE_TENANT_REGISTRY_H
#define DBCORE_TENANT_REGISTRY_H

#include "fmgr.h"
#include "nodes/pg_list.h"

/* Where the registry is, and whose it is. */
typedef struct DbcoreRegistry
{
	Oid			nspoid;			/* dbcore's schema */
	const char *nspname;		/* its name, quoted */
	Oid			owner;			/* the registry's owner */
} DbcoreRegistry;

/* A table the end of a DDL command must scope and register. */
typedef struct DbcorePendingScope
{
	Oid			relid;
	char	   *colname;		/* its client column */
	Oid			root;			/* the scoped partitioned table above it */
	bool		detached;		/* left its root: find the new one */
} DbcorePendingScope;

/* Find the registry through the function being called (dbcore's schema). */
extern void dbcore_registry_open(FunctionCallInfo fcinfo, DbcoreRegistry *reg);

/* The client column of a registered table, or NULL. */
extern char *dbcore_registry_column(const DbcoreRegistry *reg, Oid relid);

/* List of DbcorePendingScope: detached partitions, or unregistered ones. */
extern List *dbcore_registry_pending(const DbcoreRegistry *reg, bool detached);

/* "relid/check name" keys of every problem of every scoped table. */
extern List *dbcore_registry_problems(const DbcoreRegistry *reg, MemoryContext cxt,
									  List **details);

/* Register a table whose scoping is complete (checked). */
extern void dbcore_registry_add(const DbcoreRegistry *reg, const DbcorePendingScope *p);

/* Unregister the tables the current DROP removed. */
extern void dbcore_registry_forget_dropped(const DbcoreRegistry *reg);

#endif							/* DBCORE_TENANT_REGISTRY_H */
