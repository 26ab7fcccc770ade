/*-------------------------------------------------------------------------
 *
 * dbcore.h
 *		Declarations shared between dbcore's C files: the settings that
 *		dbcore.c defines in _PG_init and other files read.
 *
 *-------------------------------------------------------------------------
 */
#ifndef DBCORE_H
#define DBCORE_H

/* dbcore.allow_out_of_order: apply/revert migrations out of version order. */
extern bool dbcore_allow_out_of_order;

#endif							/* DBCORE_H */
