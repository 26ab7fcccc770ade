/*-------------------------------------------------------------------------
 *
 * common.h
 *		The bottom layer: helpers that several of dbcore's files use.  This
 *		file calls nothing above it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef DBCORE_COMMON_H
#define DBCORE_COMMON_H

#include "access/tupdesc.h"
#include "fmgr.h"

/* The live (not dropped) column of that name in tupdesc, or NULL. */
extern Form_pg_attribute dbcore_find_column(TupleDesc tupdesc, const char *colname);

/*
 * Superusers and roles with BYPASSRLS: PostgreSQL's own "system-level
 * authorization" for row level security, and dbcore's.
 */
extern bool dbcore_has_system_authorization(Oid roleid);

/* Does roleid own relation relid (directly or through role membership)? */
extern bool dbcore_owns_relation(Oid relid, Oid roleid);

/* The schema dbcore is installed in: that of the function being called. */
extern Oid	dbcore_schema_of(FunctionCallInfo fcinfo);

/* The OID of function nspoid.name() taking no arguments, or InvalidOid. */
extern Oid	dbcore_function_oid(Oid nspoid, const char *name);

/*
 * Running as another role.
 *
 * dbcore_become(role, &saved) switches the current user to role in a
 * security-restricted operation (SET ROLE, temporary tables, WITH HOLD
 * cursors and the like are refused, as in a maintenance command) with
 * search_path pinned to "pg_catalog, pg_temp"; dbcore_unbecome(&saved)
 * switches back.  An error in between is cleaned up by the (sub)transaction
 * abort, as for a SECURITY DEFINER function.  Every use is listed in
 * doc/security.md.
 */
typedef struct DbcoreIdentity
{
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
} DbcoreIdentity;

extern void dbcore_become(Oid roleid, DbcoreIdentity *saved);
extern void dbcore_unbecome(DbcoreIdentity *saved);

#endif							/* DBCORE_COMMON_H */
