/*-------------------------------------------------------------------------
 *
 * soft_delete.h
 *		Soft delete (soft_delete.c) and its maintenance functions
 *		(soft_delete_admin.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef DBCORE_SOFT_DELETE_H
#define DBCORE_SOFT_DELETE_H

#include "nodes/nodes.h"
#include "utils/relcache.h"

/* Names shared by the C code and the SQL objects. */
#define SOFT_DELETE_FUNCTION	"soft_delete"
#define SOFT_DELETE_POLICY		"dbcore_undeleted"

/* Defines dbcore.show_deleted and the transaction callbacks. */
extern void dbcore_soft_delete_init(void);

/*
 * While a maintenance function runs its SQL: marked rows are shown
 * (dbcore.showing_deleted() is true for statements planned meanwhile) and,
 * with really_delete, the soft-delete trigger lets DELETEs remove rows.
 * Calls nest; every enter needs its leave (PG_FINALLY), and the end of the
 * transaction resets both.
 */
extern void dbcore_soft_delete_enter(bool really_delete);
extern void dbcore_soft_delete_leave(bool really_delete);

/*
 * The soft-delete column of a table with dbcore's soft-delete trigger
 * (palloc'd), or NULL; with soft_delete_fn, that trigger's function.
 */
extern char *dbcore_soft_delete_column(Relation rel, Oid soft_delete_fn);

/*
 * At the end of a DDL command (guard_rails.c): a new or attached partition
 * of a soft-delete table gets the policies that hide marked rows, and a
 * detached one a soft-delete trigger of its own.
 */
extern void dbcore_soft_delete_after_ddl(Node *parsetree, Oid nspoid);

#endif							/* DBCORE_SOFT_DELETE_H */
