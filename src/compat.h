/*-------------------------------------------------------------------------
 *
 * compat.h
 *		The differences between the PostgreSQL majors dbcore builds against,
 *		in one place.  Code elsewhere calls the names defined here; an
 *		#if PG_VERSION_NUM appears only where an API differs.
 *
 *-------------------------------------------------------------------------
 */
#ifndef DBCORE_COMPAT_H
#define DBCORE_COMPAT_H

#include "catalog/pg_class.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "utils/acl.h"

/* pg_class_ownercheck() and pg_proc_aclcheck() became generic in 16. */
#if PG_VERSION_NUM >= 160000
#define dbcore_compat_class_ownercheck(relid, roleid) \
	object_ownercheck(RelationRelationId, (relid), (roleid))
#define dbcore_compat_proc_aclcheck(funcid, roleid, mode) \
	object_aclcheck(ProcedureRelationId, (funcid), (roleid), (mode))
#define dbcore_compat_namespace_aclcheck(nspoid, roleid, mode) \
	object_aclcheck(NamespaceRelationId, (nspoid), (roleid), (mode))
#else
#define dbcore_compat_class_ownercheck(relid, roleid) \
	pg_class_ownercheck((relid), (roleid))
#define dbcore_compat_proc_aclcheck(funcid, roleid, mode) \
	pg_proc_aclcheck((funcid), (roleid), (mode))
#define dbcore_compat_namespace_aclcheck(nspoid, roleid, mode) \
	pg_namespace_aclcheck((nspoid), (roleid), (mode))
#endif

#endif							/* DBCORE_COMPAT_H */
