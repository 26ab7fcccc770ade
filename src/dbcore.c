/*-------------------------------------------------------------------------
 *
 * dbcore.c
 *		Module entry point: the module magic block and _PG_init().
 *
 * Each job lives in its own file and registers its own settings, hooks and
 * callbacks from an *_init() function (doc/architecture.md has the map).
 * Helpers that several files use are in common.c, which calls nothing
 * above it; differences between PostgreSQL majors are in compat.h.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "audit.h"
#include "citus.h"
#include "client_scope.h"
#include "client_token.h"
#include "guard_rails.h"
#include "migrate.h"
#include "scope_forward.h"
#include "scope_plan.h"
#include "scope_route.h"
#include "soft_delete.h"
#include "updated_at.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/*
 * The order matters where one file's setting is read when another's is
 * defined:
 *	- whether Citus is loaded is noted first: the scope's forwarding to
 *	  the workers, the routing of scoped queries, the guard on Citus's
 *	  distributed transactions and the blanking of values in
 *	  pg_stat_activity install their hooks only then;
 *	- the token settings (dbcore.signing_keys, dbcore.token_max_ttl) come
 *	  before the client scope: defining dbcore.client_id runs its check hook
 *	  on a value set before the library was loaded, and that hook verifies
 *	  tokens against the keys (strict mode);
 *	- the client scope then clears such a value left over from an earlier
 *	  transaction (a leak through connection poolers otherwise); its
 *	  forwarding to Citus's workers follows it;
 *	- the planner hook that routes scoped queries on Citus comes after the
 *	  one for the scope's init-plans, so that it runs first and the other
 *	  sees the query it planned;
 *	- the rest is independent: the guard rails' transaction callbacks,
 *	  dbcore.auto_updated_at, dbcore.allow_out_of_order, dbcore.actor (the
 *	  audit trail) and dbcore.show_deleted (soft delete).
 * Last, the dbcore.* prefix is reserved, so a misspelt setting is an error.
 */
void
_PG_init(void)
{
	dbcore_citus_init();
	dbcore_citus_xact_init();
	dbcore_citus_activity_init();
	dbcore_client_token_init();
	dbcore_client_scope_init();
	dbcore_scope_forward_init();
	dbcore_scope_plan_init();
	dbcore_scope_route_init();
	dbcore_guard_rails_init();
	dbcore_updated_at_init();
	dbcore_migrate_init();
	dbcore_audit_init();
	dbcore_soft_delete_init();

	MarkGUCPrefixReserved("dbcore");
}
