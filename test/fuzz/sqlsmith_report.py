#!/usr/bin/env python3
"""Judge what sqlsmith logged (test/shell/sqlsmith.sh runs it).

sqlsmith --log-to writes one row per failed query into table "error" of a
log database (msg, query, sqlstate; id = the sqlsmith instance).  sqlsmith
produces many errors by design; they are classified by SQLSTATE.  The rule:

  crash:    any error that says the connection was lost or the server
            crashed (SQLSTATE class 08, 57P01-57P03, or the words psql and
            libpq use for it) -- fails;
  internal: an error of SQLSTATE class XX fails when dbcore code ran for
            the query: its report names dbcore (fails at once); the query
            calls a dbcore function (replayed with those calls replaced by
            NULL, as below); or it writes (INSERT/UPDATE/DELETE/MERGE)
            a table with a dbcore trigger, or -- for a role that row level
            security applies to -- reads a tenant-scoped table, whose
            policies call dbcore functions.  Such a query is replayed as a
            superuser (no row level security) with
            session_replication_role = replica (no dbcore trigger fires), in
            a transaction that is rolled back: if the same XX error comes
            back without any dbcore code running, it is PostgreSQL's own.
            PostgreSQL's own XX errors are listed, not failed;
  message:  an error from a query that ran dbcore code whose text has
            "(null)", "<NULL>", "cache lookup failed" or SPI names -- fails.

Standard library only; reads the log through psql.
"""

import argparse
import collections
import json
import os
import re
import subprocess
import sys

CRASH_WORDS = re.compile(r"server closed the connection|terminating connection because of crash|"
                         r"connection to server was lost|no connection to the server|"
                         r"could not receive data from server|the database system is in recovery mode")
BAD_TEXT = re.compile(r"\(null\)|<NULL>|cache lookup failed|\bSPI_\w+|unrecognized node type")


def query(psql, conninfo, sql):
    r = subprocess.run([psql, "-X", "-At", "-q", "-v", "ON_ERROR_STOP=1", "-F", "\x1f", "-R", "\x1e",
                        "-d", conninfo, "-c", sql], capture_output=True, encoding="utf-8",
                       errors="replace", env=dict(os.environ, PGCLIENTENCODING="UTF8"))
    if r.returncode != 0:
        raise RuntimeError("psql failed: %s" % r.stderr.strip())
    out = r.stdout[:-1] if r.stdout.endswith("\n") else r.stdout
    return [row.split("\x1f") for row in out.split("\x1e") if row != ""]


def replay_without_dbcore(psql, conninfo, sql):
    """Run sql with dbcore's triggers off and row level security bypassed;
    return (sqlstate, first line of the message) of its error, or None."""
    script = ("BEGIN;\nSET LOCAL statement_timeout = '5s';\n"
              "SET LOCAL session_replication_role = replica;\n%s;\nROLLBACK;\n" % sql.strip().rstrip(";"))
    r = subprocess.run([psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=verbose", "-d", conninfo],
                       input=script, capture_output=True, encoding="utf-8", errors="replace",
                       env=dict(os.environ, PGCLIENTENCODING="UTF8"), timeout=60)
    m = re.search(r"^(?:psql:[^\n]*?: )?ERROR:  ([0-9A-Z]{5}): (.*)$", r.stderr, re.M)
    return (m.group(1), m.group(2).strip()) if m else None


def without_dbcore_calls(sql):
    """sql with every call of a dbcore function replaced by NULL (balanced
    parentheses), so a replay can tell whether an error needs dbcore."""
    out, i = [], 0
    pat = re.compile(r'(?:\bdbcore|"dbcore")\s*\.\s*"?[A-Za-z_][A-Za-z0-9_]*"?\s*\(')
    while True:
        m = pat.search(sql, i)
        if not m:
            out.append(sql[i:])
            return "".join(out)
        out.append(sql[i:m.start()])
        depth, j = 1, m.end()
        while j < len(sql) and depth:
            if sql[j] == "(":
                depth += 1
            elif sql[j] == ")":
                depth -= 1
            j += 1
        out.append("NULL")
        i = j


def names_pattern(names):
    """A regex matching any of the qualified names as sqlsmith writes them."""
    alts = []
    for schema, rel in names:
        alts.append(r"\b%s\.%s\b" % (re.escape(schema), re.escape(rel)))
        alts.append(r'"%s"\."%s"' % (re.escape(schema), re.escape(rel)))
    return re.compile("|".join(alts) if alts else r"(?!x)x", re.I)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--psql", default="psql")
    ap.add_argument("--target", required=True, help="conninfo of the database sqlsmith queried")
    ap.add_argument("--log", required=True, help="conninfo of the --log-to database")
    ap.add_argument("--instance", action="append", default=[],
                    help="LABEL=ROLE_KIND: sqlsmith instances in the order they ran "
                         "(ROLE_KIND superuser or rls)")
    ap.add_argument("--queries", action="append", default=[], help="LABEL=N queries run")
    ap.add_argument("--summary")
    args = ap.parse_args()

    triggered = query(args.psql, args.target, """
        SELECT DISTINCT n.nspname, c.relname FROM pg_trigger t
          JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
          JOIN pg_proc p ON p.oid = t.tgfoid
         WHERE p.pronamespace = 'dbcore'::regnamespace""")
    scoped = query(args.psql, args.target, """
        SELECT n.nspname, c.relname FROM dbcore.tenant_tables r
          JOIN pg_class c ON c.oid = r.tbl JOIN pg_namespace n ON n.oid = c.relnamespace
        UNION
        SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind = 'v' AND n.nspname NOT IN ('pg_catalog', 'information_schema')""")
    trig_re = names_pattern(triggered)
    scoped_re = names_pattern(scoped)
    write_re = re.compile(r"\b(?:insert\s+into|update|delete\s+from|merge\s+into)\s+(\"?\w+\"?\.\"?\w+\"?)", re.I)
    call_re = re.compile(r"\bdbcore\.\"?\w+\"?\s*\(", re.I)

    instances = [i.split("=", 1) for i in args.instance]
    ids = [r[0] for r in query(args.psql, args.log, "SELECT id FROM instance ORDER BY id")]
    if len(ids) != len(instances):
        print("not ok - the log has %d sqlsmith instances, expected %d" % (len(ids), len(instances)))
        return 2
    kind_of = {i: instances[n][1] for n, i in enumerate(ids)}
    label_of = {i: instances[n][0] for n, i in enumerate(ids)}
    ran = dict(q.split("=", 1) for q in args.queries)

    rows = query(args.psql, args.log, "SELECT id, coalesce(sqlstate, ''), coalesce(msg, ''), coalesce(query, '') "
                                      "FROM error ORDER BY t")
    by_state = {label: collections.Counter() for label, _ in instances}
    crashes, internal, bad, core_xx = [], [], [], collections.Counter()
    for ident, state, msg, sql in rows:
        label = label_of.get(ident, "?")
        by_state.setdefault(label, collections.Counter())[state or "?????"] += 1
        dbcore_ran = bool(call_re.search(sql)) or "dbcore" in msg.lower() or any(
            trig_re.fullmatch(m.group(1)) or trig_re.search(m.group(1)) for m in write_re.finditer(sql))
        if kind_of.get(ident) == "rls" and scoped_re.search(sql):
            dbcore_ran = True
        first = msg.strip().split("\n", 1)[0]
        if state.startswith("08") or state in ("57P01", "57P02", "57P03") or CRASH_WORDS.search(msg):
            crashes.append((label, state, msg, sql))
        elif state.startswith("XX"):
            text = re.sub(r"^ERROR:  ", "", first)
            if "dbcore" in msg.lower():
                internal.append((label, state, msg, sql))
            elif call_re.search(sql):
                # The query calls dbcore functions: replay it with those calls
                # replaced by NULL (and dbcore's triggers and policies out of
                # the way); the same XX error then is PostgreSQL's own.
                again = replay_without_dbcore(args.psql, args.target, without_dbcore_calls(sql))
                if again is not None and again[0].startswith("XX") and again[1] == text:
                    core_xx[first + " (also with dbcore's calls replaced by NULL)"] += 1
                else:
                    internal.append((label, state, msg + "\n(replayed without dbcore calls: %s)" % (
                        "%s %s" % again if again else "no error"), sql))
            elif dbcore_ran:
                again = replay_without_dbcore(args.psql, args.target, sql)
                if again is not None and again[0].startswith("XX") and again[1] == text:
                    core_xx[first + " (also with dbcore's triggers and policies out of the way)"] += 1
                else:
                    internal.append((label, state, msg + "\n(replayed without dbcore code: %s)" % (
                        "%s %s" % again if again else "no error"), sql))
            else:
                core_xx[first] += 1
        elif dbcore_ran and BAD_TEXT.search(msg):
            bad.append((label, state, msg, sql))

    ok = True
    total_ran = 0
    for label, kind in instances:
        n = int(ran.get(label, 0))
        total_ran += n
        errs = by_state.get(label, collections.Counter())
        classes = collections.Counter()
        for s, c in errs.items():
            classes[s[:2]] += c
        print("# sqlsmith %s: %d queries run, %d errors; by SQLSTATE: %s" % (
            label, n, sum(errs.values()),
            ", ".join("%s %d" % (s, c) for s, c in errs.most_common()) or "none"))
    for what, n in core_xx.most_common():
        print("# PostgreSQL's own internal error (not dbcore's: listed, not failed), %d times: %s" % (n, what))

    def show(title, items):
        for label, state, msg, sql in items[:5]:
            print("#   [%s] %s %s" % (label, state, msg.strip().replace("\n", "\n#     ")))
            print("#     query: " + sql.strip()[:3000].replace("\n", "\n#       "))
        if len(items) > 5:
            print("#   ... and %d more" % (len(items) - 5))

    checks = [
        (not crashes, "no query lost its connection (%d crash-like errors)" % len(crashes), crashes),
        (not internal, "no XX error from a query that ran dbcore code (%d)" % len(internal), internal),
        (not bad, "no malformed message from a query that ran dbcore code (%d)" % len(bad), bad),
        (total_ran > 0, "sqlsmith ran queries (%d)" % total_ran, []),
    ]
    for good, text, items in checks:
        print(("ok - " if good else "not ok - ") + text)
        if not good:
            ok = False
            show(text, items)

    if args.summary:
        all_states = collections.Counter()
        for c in by_state.values():
            all_states.update(c)
        with open(args.summary, "w") as fh:
            json.dump({"queries": total_ran, "errors": sum(all_states.values()),
                       "by_sqlstate": all_states, "crashes": len(crashes), "internal": len(internal),
                       "bad_messages": len(bad), "core_xx": sum(core_xx.values())}, fh)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
