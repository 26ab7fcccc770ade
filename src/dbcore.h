/*-------------------------------------------------------------------------
 *
 * dbcore.h
 *		Declarations shared between dbcore's source files.
 *
 *-------------------------------------------------------------------------
 */
#ifndef DBCORE_H
#define DBCORE_H

/* tenant.c: defines the tenant scoping settings and callbacks */
extern void dbcore_tenant_init(void);

#endif							/* DBCORE_H */
