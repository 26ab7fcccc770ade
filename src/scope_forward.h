/*-------------------------------------------------------------------------
 *
 * scope_forward.h
 *		Citus: the client scope on the worker nodes (scope_forward.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef DBCORE_SCOPE_FORWARD_H
#define DBCORE_SCOPE_FORWARD_H

/* On Citus, installs the utility and executor hooks; after the client scope. */
extern void dbcore_scope_forward_init(void);

#endif							/* DBCORE_SCOPE_FORWARD_H */
