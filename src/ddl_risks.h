/*-------------------------------------------------------------------------
 *
 * ddl_risks.h
 *		DDL the guard rails refuse to roles without system-level
 *		authorization (ddl_risks.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef DBCORE_DDL_RISKS_H
#define DBCORE_DDL_RISKS_H

#include "nodes/nodes.h"
#include "nodes/pg_list.h"

#include "tenant_registry.h"

/* What a DDL command's parse tree could do to scoped tables (opaque list). */
extern List *dbcore_ddl_risks(Node *parsetree);

/* Raise an error for the first of them that applies to a scoped table. */
extern void dbcore_refuse_ddl_risks(List *risks, const DbcoreRegistry *reg);

#endif							/* DBCORE_DDL_RISKS_H */
