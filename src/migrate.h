/*-------------------------------------------------------------------------
 *
 * migrate.h
 *		Migration bookkeeping (migrate.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef DBCORE_MIGRATE_H
#define DBCORE_MIGRATE_H

/* Defines dbcore.allow_out_of_order. */
extern void dbcore_migrate_init(void);

#endif							/* DBCORE_MIGRATE_H */
