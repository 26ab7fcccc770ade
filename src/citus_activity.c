/*-------------------------------------------------------------------------
 *
 * citus_activity.c
 *		Citus: what pg_stat_activity shows of other sessions' values.
 *
 * PostgreSQL shows a backend's current (or last) command text in
 * pg_stat_activity to every session of the same role, and Citus's
 * citus_stat_activity gathers that view from every node.  When the
 * application connects as one role for every client, on a worker node that
 * text is the command Citus sent for another client's session, with the
 * values inlined, even those the application passed as bind parameters
 * (INSERT ... VALUES ('...'::text, ...), WHERE id = '...'), and with the
 * client scope forwarded as SET LOCAL dbcore.client_id TO '<token>': in
 * strict mode, a token anyone who read it could use until it expires.
 *
 * So the text a backend reports for such commands has their literals
 * blanked ('*', the same length, quotes and casts kept):
 *	 - the value of a SET LOCAL dbcore.client_id, on any node (called by
 *	   scope_forward.c's utility hook);
 *	 - every constant of a query that arrives on one of Citus's own
 *	   connections (application_name "citus_internal gpid=...": a shard
 *	   query), found by walking the analysed query (the parse-tree locations
 *	   are offsets into the command string), and reported again when the
 *	   query starts (the extended protocol's Execute reports the text anew).
 * The command itself, the server log and pg_stat_statements are untouched.
 * Installed only when Citus is loaded.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/executor.h"
#include "nodes/nodeFuncs.h"
#include "nodes/parsenodes.h"
#include "parser/analyze.h"
#include "tcop/tcopprot.h"
#include "utils/backend_status.h"
#include "utils/memutils.h"

#include "citus.h"

static post_parse_analyze_hook_type prev_post_parse_analyze = NULL;
static ExecutorStart_hook_type prev_executor_start = NULL;

/*
 * The command string last blanked, and the text reported for it (blanks
 * accumulate over the commands of one string).  In TopMemoryContext.
 */
static char *source = NULL;
static char *shown = NULL;
static int	source_len = 0;

/* Start blanking queryString, unless it is the one being blanked. */
static void
use_source(const char *queryString)
{
	if (source != NULL && strcmp(source, queryString) == 0)
		return;
	if (source != NULL)
		pfree(source);
	if (shown != NULL)
		pfree(shown);
	source = MemoryContextStrdup(TopMemoryContext, queryString);
	shown = MemoryContextStrdup(TopMemoryContext, queryString);
	source_len = strlen(source);
}

/*
 * Blank the literal that starts at pos of source: a quoted string
 * ('...', E'...' with its backslash escapes, B'...', X'...', U&'...') up to
 * its closing quote, or a number.  Returns whether anything was blanked.
 */
static bool
blank_literal(int pos)
{
	bool		escapes = false;
	int			start;

	if (pos < 0 || pos >= source_len)
		return false;
	if (source[pos] == 'U' || source[pos] == 'u')
	{
		if (pos + 1 < source_len && source[pos + 1] == '&')
			pos += 2;
	}
	else if (strchr("EeBbXxNn", source[pos]) != NULL && pos + 1 < source_len &&
			 source[pos + 1] == '\'')
	{
		escapes = (source[pos] == 'E' || source[pos] == 'e');
		pos++;
	}
	if (pos >= source_len)
		return false;
	if (source[pos] == '\'')
	{
		for (pos++; pos < source_len; pos++)
		{
			if (escapes && source[pos] == '\\' && pos + 1 < source_len)
				shown[pos++] = '*';
			else if (source[pos] == '\'')
			{
				if (pos + 1 >= source_len || source[pos + 1] != '\'')
					break;
				shown[pos++] = '*';
			}
			shown[pos] = '*';
		}
		return true;
	}
	if ((source[pos] == '-' || source[pos] == '+') && pos + 1 < source_len)
		pos++;
	start = pos;
	while (pos < source_len &&
		   ((source[pos] >= '0' && source[pos] <= '9') || source[pos] == '.' ||
			source[pos] == '_' || source[pos] == 'e' || source[pos] == 'E' ||
			((source[pos] == '+' || source[pos] == '-') && pos > start &&
			 (source[pos - 1] == 'e' || source[pos - 1] == 'E'))))
		shown[pos++] = '*';
	return pos > start;
}

static void
report_shown(void)
{
	pgstat_report_activity(STATE_RUNNING, shown);
}

void
dbcore_citus_activity_hide_value(const char *queryString, VariableSetStmt *stmt)
{
	A_Const    *arg;

	if (!pgstat_track_activities || queryString == NULL ||
		stmt->kind != VAR_SET_VALUE || list_length(stmt->args) != 1)
		return;
	arg = (A_Const *) linitial(stmt->args);
	if (!IsA(arg, A_Const) || arg->location < 0)
		return;
	use_source(queryString);
	if (blank_literal(arg->location))
		report_shown();
}

static bool
blank_constants(Node *node, bool *blanked)
{
	if (node == NULL)
		return false;
	if (IsA(node, Const))
	{
		*blanked |= blank_literal(((Const *) node)->location);
		return false;
	}
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, blank_constants, (void *) blanked, 0);
	return expression_tree_walker(node, blank_constants, (void *) blanked);
}

/* A query on one of Citus's connections, from the command string itself. */
static void
activity_post_parse_analyze(ParseState *pstate, Query *query, JumbleState *jstate)
{
	bool		blanked = false;

	if (prev_post_parse_analyze)
		prev_post_parse_analyze(pstate, query, jstate);
	if (!pgstat_track_activities || query->commandType == CMD_UTILITY ||
		pstate->p_sourcetext == NULL || pstate->p_sourcetext != debug_query_string ||
		!dbcore_citus_internal_connection())
		return;
	use_source(pstate->p_sourcetext);
	(void) blank_constants((Node *) query, &blanked);
	if (blanked)
		report_shown();
}

/*
 * Execute (extended protocol) reports the command's text again, from the
 * portal's copy of it: the blanked one, then.
 */
static void
activity_executor_start(QueryDesc *queryDesc, int eflags)
{
	if (source != NULL && queryDesc->sourceText != NULL &&
		strcmp(queryDesc->sourceText, source) == 0 && strcmp(shown, source) != 0)
		report_shown();
	if (prev_executor_start)
		prev_executor_start(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

void
dbcore_citus_activity_init(void)
{
	if (!dbcore_citus_loaded())
		return;
	prev_post_parse_analyze = post_parse_analyze_hook;
	post_parse_analyze_hook = activity_post_parse_analyze;
	prev_executor_start = ExecutorStart_hook;
	ExecutorStart_hook = activity_executor_start;
}
