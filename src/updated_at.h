/*-------------------------------------------------------------------------
 *
 * updated_at.h
 *		The updated_at trigger (updated_at.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef DBCORE_UPDATED_AT_H
#define DBCORE_UPDATED_AT_H

/* Defines dbcore.auto_updated_at. */
extern void dbcore_updated_at_init(void);

#endif							/* DBCORE_UPDATED_AT_H */
