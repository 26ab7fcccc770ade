/*-------------------------------------------------------------------------
 *
 * guard_rails.h
 *		The guard rails' event triggers (guard_rails.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef DBCORE_GUARD_RAILS_H
#define DBCORE_GUARD_RAILS_H

/* Registers the transaction callbacks that drop the per-command state. */
extern void dbcore_guard_rails_init(void);

#endif							/* DBCORE_GUARD_RAILS_H */
