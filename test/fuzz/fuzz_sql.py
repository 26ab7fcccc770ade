#!/usr/bin/env python3
"""SQL-level fuzzer of dbcore (test/shell/fuzz_sql.sh runs it).

Calls every function of schema dbcore -- read from pg_proc when the run
starts, so new functions are fuzzed without changing this file -- with
NULLs, empty and 1 MB strings, odd identifiers, wrong types and wrong
arities, uses its trigger functions as every kind of trigger (BEFORE, AFTER,
INSTEAD OF, statement level, on DELETE and TRUNCATE, on views, partitioned
and foreign tables, with any arguments) and its event trigger functions on
every event, changes the tables under the triggers (columns dropped,
renamed, retyped, added; partitions attached and detached), sets dbcore's
settings to odd values, forges client tokens, and runs the migration ledger
with broken scripts, in a random but seeded order, nested in savepoints, in
three sessions: a superuser, the owner of a schema of scoped tables (an
ordinary role with EXECUTE on every dbcore function) and an ordinary role
with the default privileges.

Pass rule, checked on every message the server sends back:
  - no session dies (a backend crash shows up as the connection lost; the
    shell wrapper also reads the server log and the postmaster PID);
  - no SQLSTATE of class XX (internal error);
  - every error is a message a user can act on -- see check_message().
Exit status: 0 pass, 1 failures found, 2 the fuzzer could not run.

Standard library only; talks to the server through psql.
"""

import argparse
import collections
import json
import os
import random
import re
import subprocess
import sys
import time

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pools import (BIGINTS, CLIENT_A, CLIENT_B, CLIENT_TEXT,  # noqa: E402
                   CLIENT_UUIDS, CLOCKS, COLUMN_TYPES, HUGE_SCRIPTS,
                   HUGE_TEXT, INTEGERS, INTERVALS, KEY_IDS, MB, ODD_NAMES,
                   SIGNING_KEY_VALUES_BAD, UUIDS, VERSION_POOL, WRONG_TYPED,
                   Tokens, ident, lit, qname)
from psql_session import (CONNECTION_LOST, Psql, SessionDied,  # noqa: E402
                          StatementHung)

FUZZ_SCHEMAS = ("fz_su", "fz_app")

# ---------------------------------------------------------------------------
# Message checks
# ---------------------------------------------------------------------------

# Never acceptable, whoever raised it: words of PostgreSQL's internals.
INTERNAL_PATTERNS = [
    (re.compile(r"cache lookup failed", re.I), "internal: cache lookup failed"),
    (re.compile(r"unrecognized node type", re.I), "internal: unrecognized node type"),
    (re.compile(r"invalid memory alloc request size"), "internal: invalid memory alloc request"),
    (re.compile(r"<NULL>"), "a NULL value printed as <NULL> (PL/pgSQL RAISE of a NULL)"),
    (re.compile(r"\bSPI_\w+|\bSPI\b"), "names SPI internals"),
    # resource owner and lock manager complaints: leaks in the caller
    (re.compile(r"\bleak\b|was not closed|you don't own a lock|still active|still pinned"),
     "a resource leak warning"),
]
# Not acceptable where dbcore's code is involved.  (PostgreSQL itself prints
# a NULL partition key value as "(null)" on purpose.)
NEAR_DBCORE_PATTERNS = [
    (re.compile(r"\(null\)"), "a NULL string printed as (null)"),
]
# Not acceptable from dbcore's code (its C files, or RAISE in its PL/pgSQL).
DBCORE_PATTERNS = [
    (re.compile(r"\bunexpected\b", re.I), "says 'unexpected'"),
    (re.compile(r"\b(?:tupdesc|tuple descriptor|fcinfo|Datum|relcache|syscache)\b"),
     "names C internals"),
    (re.compile(r"\bfailed: -?\d+\b"), "ends in a bare result code"),
    (re.compile(r"\binternal error\b", re.I), "says 'internal error'"),
]
MAX_DBCORE_MESSAGE = 1500

# XX000 errors that PostgreSQL 15 itself raises, without an errcode, for an
# ordinary user mistake: not dbcore's doing.  Counted and listed in the
# report, not failed.  (Any other XX error fails, whoever raised it.)
CORE_XX_KNOWN = [
    # ALTER TRIGGER ... RENAME on a partition's clone of a trigger
    ("renametrig", re.compile(r'^cannot rename trigger ".*" on table ".*"$', re.S)),
]


class Origin:
    DBCORE = "dbcore"        # raised by dbcore's C code or RAISE in dbcore PL/pgSQL
    VIA = "via-dbcore"       # raised by PostgreSQL while running dbcore code
    CORE = "core"            # raised by PostgreSQL, dbcore not involved


def message_origin(msg, c_files, dbcore_funcs):
    if msg.location_file() in c_files:
        return Origin.DBCORE
    ctx = msg.context or ""
    first = ctx.split("\n", 1)[0]
    if msg.location_func() == "exec_stmt_raise" and "function dbcore." in first:
        return Origin.DBCORE
    if "dbcore." in ctx:
        return Origin.VIA
    for name in dbcore_funcs:
        if ('function "%s"' % name) in ctx:
            return Origin.VIA
    return Origin.CORE


def known_core_xx(msg, origin):
    return origin == Origin.CORE and msg.sqlstate == "XX000" and any(
        msg.location_func() == func and pattern.match(msg.message) for func, pattern in CORE_XX_KNOWN)


def check_message(msg, origin):
    """Problems of one server message, as a list of short descriptions."""
    problems = []
    if msg.sqlstate.startswith("XX") and not known_core_xx(msg, origin):
        problems.append("internal error SQLSTATE %s" % msg.sqlstate)
    if msg.is_error and not msg.message.strip():
        problems.append("empty message")
    texts = [msg.message, msg.detail or "", msg.hint or ""]
    for pattern, what in INTERNAL_PATTERNS:
        if any(pattern.search(t) for t in texts):
            problems.append(what)
    if origin in (Origin.DBCORE, Origin.VIA):
        for pattern, what in NEAR_DBCORE_PATTERNS:
            if any(pattern.search(t) for t in texts):
                problems.append(what)
    if origin == Origin.DBCORE:
        for pattern, what in DBCORE_PATTERNS:
            if any(pattern.search(t) for t in texts):
                problems.append(what)
        text = msg.message
        if msg.is_error and msg.sqlstate in ("P0001", "00000", ""):
            problems.append("no specific SQLSTATE (%s)" % (msg.sqlstate or "none"))
        if re.match(r"^[A-Z][a-z]", text):
            problems.append("message starts with a capital letter")
        if text.endswith(".") and not text.endswith(".."):
            problems.append("message ends with a period")
        for name in ("detail", "hint"):
            value = getattr(msg, name)
            if value is not None and not re.search(r"[.!?]\)?$", value.rstrip()):
                problems.append("%s is not a sentence ending in a period" % name)
        if len(text) > MAX_DBCORE_MESSAGE:
            problems.append("message of %d characters (echoes a huge input?)" % len(text))
    return problems


# ---------------------------------------------------------------------------
# One-shot catalog queries (psql -At)
# ---------------------------------------------------------------------------

def oneshot(args, sql, user=None, db=None):
    cmd = [args.psql, "-X", "-At", "-q", "-v", "ON_ERROR_STOP=1",
           "-F", "\x1f", "-R", "\x1e", "-d", db or args.db,
           "-U", user or args.superuser, "-c", sql]
    env = dict(os.environ, PGCLIENTENCODING="UTF8",
               PGOPTIONS="-c lock_timeout=10s -c statement_timeout=60s")
    r = subprocess.run(cmd, capture_output=True, encoding="utf-8",
                       errors="replace", env=env, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("psql failed (%d): %s\n%s" % (r.returncode, sql[:200], r.stderr))
    out = r.stdout
    if out.endswith("\n"):
        out = out[:-1]
    return [row.split("\x1f") for row in out.split("\x1e") if row != ""]


class Func:
    def __init__(self, row):
        (self.signature, self.name, self.kind, retset, self.rettype,
         argtypes, argnames, ndefaults, nargs) = row
        self.retset = retset == "t"
        self.argtypes = argtypes.split("\x1d") if argtypes else []
        names = argnames.split("\x1d") if argnames else []
        self.argnames = (names + [""] * len(self.argtypes))[:len(self.argtypes)]
        self.ndefaults = int(ndefaults)

    @property
    def is_trigger(self):
        return self.rettype == "trigger"

    @property
    def is_event_trigger(self):
        return self.rettype == "event_trigger"


FUNCS_SQL = r"""
SELECT p.oid::regprocedure::text, p.proname, p.prokind, p.proretset,
       format_type(p.prorettype, NULL),
       coalesce((SELECT string_agg(format_type(t, NULL), E'\x1d' ORDER BY o)
                   FROM unnest(p.proargtypes) WITH ORDINALITY u(t, o)), ''),
       coalesce((SELECT string_agg(coalesce(n, ''), E'\x1d' ORDER BY o)
                   FROM unnest(p.proargnames,
                               coalesce(p.proargmodes, array_fill('i'::"char", ARRAY[coalesce(cardinality(p.proargnames), 0)])))
                        WITH ORDINALITY u(n, m, o)
                  WHERE m IN ('i', 'b', 'v')), ''),
       p.pronargdefaults, p.pronargs
  FROM pg_proc p
 WHERE p.pronamespace = 'dbcore'::regnamespace
 ORDER BY 1
"""

RELS_SQL = r"""
SELECT n.nspname, c.relname, c.relkind::text, pg_get_userbyid(c.relowner),
       c.relispartition::text, c.oid::text,
       coalesce((SELECT string_agg(a.attname || E'\x1c' || format_type(a.atttypid, a.atttypmod)
                                   || E'\x1c' || a.attgenerated::text, E'\x1d' ORDER BY a.attnum)
                   FROM pg_attribute a
                  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), ''),
       coalesce((SELECT string_agg(t.tgname, E'\x1d') FROM pg_trigger t
                  WHERE t.tgrelid = c.oid AND NOT t.tgisinternal), ''),
       coalesce(pg_get_partkeydef(c.oid), ''),
       coalesce(c.reltoastrelid::regclass::text, '')
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname IN ('fz_su', 'fz_app', 'fz_other')
   AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S', 'i', 'I', 'c')
 ORDER BY n.nspname, c.relname
"""


class Rel:
    def __init__(self, row):
        (self.schema, self.name, self.kind, self.owner, part, oid, cols,
         trigs, self.partkey, self.toast) = row
        self.is_partition = part == "true"
        self.oid = int(oid)
        self.columns = []
        for c in cols.split("\x1d") if cols else []:
            name, typ, gen = c.split("\x1c")
            self.columns.append((name, typ, gen))
        self.triggers = trigs.split("\x1d") if trigs else []

    @property
    def qname(self):
        return qname(self.schema, self.name)


# Every session has a temporary table of this shape (see setup_session).
TEMP_REL = Rel(["pg_temp", "fz_tmp", "r", "", "false", "0",
                "id\x1cinteger\x1c\x1dupdated_at\x1ctimestamp with time zone\x1c\x1dclient_id\x1cuuid\x1c",
                "", "", ""])

# ---------------------------------------------------------------------------
# Sessions
# ---------------------------------------------------------------------------

class Session:
    """A psql session with the transaction state the fuzzer believes in."""

    def __init__(self, fuzzer, label, user, schema):
        self.fuzzer = fuzzer
        self.label = label
        self.user = user
        self.schema = schema            # where it creates tables (or None)
        self.psql = None
        self.history = collections.deque(maxlen=60)
        self.connect()

    def connect(self):
        if self.psql is not None:
            self.psql.close()
        self.psql = Psql(self.fuzzer.args.psql, self.fuzzer.args.db, self.user)
        self.in_tx = False
        self.savepoints = []
        self.aborted = False
        self.history.append("-- (new connection as %s)" % self.user)
        self.tx_statements = 0

    def close(self):
        if self.psql is not None:
            self.psql.close()

    def track(self, sql, result):
        """Follow BEGIN/COMMIT/SAVEPOINT... and errors in a transaction."""
        text = sql.strip().rstrip(";").strip()
        upper = text.upper()
        words = text.split()
        head = " ".join(w.upper() for w in words[:3])
        failed = bool(result.errors)
        if head.startswith("BEGIN") and upper.endswith("COMMIT"):
            return                          # a whole transaction in one line
        if any(m.sqlstate == "25P01" for m in result.messages):
            # "there is no transaction in progress": we were wrong
            self.in_tx, self.savepoints, self.aborted = False, [], False
            return
        if head.startswith(("BEGIN", "START TRANSACTION")) and not failed:
            self.in_tx, self.savepoints, self.aborted = True, [], False
            self.tx_statements = 0
            return
        if head.startswith(("COMMIT", "END", "ABORT", "PREPARE TRANSACTION")) or \
                (head.startswith("ROLLBACK") and not head.startswith("ROLLBACK TO")
                 and "PREPARED" not in head):
            self.in_tx, self.savepoints, self.aborted = False, [], False
            return
        if head.startswith("SAVEPOINT") and not failed and len(words) > 1:
            self.savepoints.append(words[1])
            return
        if head.startswith("ROLLBACK TO") and not failed:
            name = words[-1]
            if name in self.savepoints:
                del self.savepoints[self.savepoints.index(name) + 1:]
            self.aborted = False
            return
        if head.startswith("RELEASE") and not failed:
            name = words[-1]
            if name in self.savepoints:
                del self.savepoints[self.savepoints.index(name):]
            return
        if self.in_tx:
            self.tx_statements += 1
            if failed:
                self.aborted = True


class Failure:
    def __init__(self, kind, session, sql, detail, history):
        self.kind = kind
        self.session = session
        self.sql = sql
        self.detail = detail
        self.history = list(history)


# ---------------------------------------------------------------------------
# The fuzzer
# ---------------------------------------------------------------------------

class Fuzzer:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.tokens = Tokens(random.Random(args.seed + 1))
        self.c_files = set(args.c_files)
        self.funcs = []
        self.rels = []
        self.seen_oids = set()
        self.dropped_oids = []
        self.sessions = {}
        self.failures = []
        self.failure_keys = set()
        self.stats = collections.Counter()
        self.calls = collections.Counter()        # signature -> attempts
        self.sqlstates = collections.Counter()    # error SQLSTATE -> count
        self.origins = collections.Counter()
        self.core_xx = collections.Counter()      # known PostgreSQL XX000s
        self.messages_checked = 0
        self.counter = 0
        self.next_version = 1
        self.applied_versions = []
        self.ext_oid = None
        self.has_file_fdw = False
        self.steps = 0

    # ----- logging ---------------------------------------------------------

    def fail(self, kind, session, sql, detail, key=None):
        """Record a failure; the same problem from the same place (key)
        is shown once and counted."""
        if key is None:
            key = re.sub(r"\d+", "N", detail)[:200]
        key = (kind, key)
        if key in self.failure_keys:
            self.stats["repeated failures"] += 1
            return
        self.failure_keys.add(key)
        self.failures.append(Failure(kind, session.label if session else "-",
                                     sql, detail,
                                     session.history if session else []))

    # ----- catalog ---------------------------------------------------------

    def load_functions(self):
        self.funcs = [Func(r) for r in oneshot(self.args, FUNCS_SQL)]
        if not self.funcs:
            raise RuntimeError("schema dbcore has no functions: is the extension installed?")
        self.func_names = sorted({f.name for f in self.funcs})

    def refresh(self):
        rows = oneshot(self.args, RELS_SQL)
        self.rels = [Rel(r) for r in rows]
        oids = {r.oid for r in self.rels}
        for oid in self.seen_oids - oids:
            if oid not in self.dropped_oids:
                self.dropped_oids.append(oid)
        self.dropped_oids = self.dropped_oids[-50:]
        self.seen_oids |= oids
        ext = oneshot(self.args, "SELECT coalesce((SELECT oid::text FROM pg_extension WHERE extname = 'dbcore'), '')")
        ext_oid = ext[0][0] if ext else ""
        changed = ext_oid != self.ext_oid
        self.ext_oid = ext_oid
        return changed

    def tables(self, session=None, kinds=("r", "p", "f")):
        rels = [r for r in self.rels if r.kind in kinds]
        if "r" in kinds:
            rels.append(TEMP_REL)       # each session's pg_temp.fz_tmp
        if session is not None and session.label == "app":
            own = [r for r in rels if r.schema == "fz_app"]
            if own and self.rng.random() < 0.8:
                return own
        return rels

    # ----- running statements ---------------------------------------------

    def run(self, session, sql, funcs=(), category="other"):
        """Run one statement in a session and check every message."""
        if not balanced(sql):
            self.stats["generator: unbalanced statement skipped"] += 1
            return None
        self.stats["statements"] += 1
        self.stats["statements as " + session.label] += 1
        self.stats["category " + category] += 1
        for f in funcs:
            self.calls[f] += 1
        shown = sql if len(sql) <= 2000 else sql[:2000] + " ...(%d chars)" % len(sql)
        session.history.append(shown)
        try:
            result = session.psql.run(sql, timeout=self.args.statement_wait)
        except SessionDied as e:
            text = "\n".join(e.lines[-20:])
            self.fail("crash", session, shown,
                      "the session ended (psql exit status %s): %s" % (e.returncode, text or "no message"))
            raise
        except StatementHung as e:
            self.fail("hang", session, shown, str(e))
            raise
        session.track(sql, result)
        for line in result.stray:
            if any(s in line for s in CONNECTION_LOST):
                self.fail("crash", session, shown, line)
        for m in result.messages:
            self.messages_checked += 1
            origin = message_origin(m, self.c_files, self.func_names)
            if m.is_error:
                self.sqlstates[m.sqlstate or "?????"] += 1
                self.origins[origin] += 1
            problems = check_message(m, origin)
            if known_core_xx(m, origin):
                self.stats["known PostgreSQL XX000"] += 1
                self.core_xx[m.location_func() + ": " + re.sub(r'"[^"]*"', '"..."', m.message)] += 1
            if m.severity in ("FATAL", "PANIC"):
                problems.append("%s from the server" % m.severity)
            if any(s in m.message for s in CONNECTION_LOST):
                problems.append("connection lost")
            if problems:
                kind = "internal" if any(p.startswith("internal") for p in problems) else "message"
                if m.severity in ("FATAL", "PANIC") or "connection lost" in problems:
                    kind = "crash"
                where = m.location or ""
                if origin != Origin.CORE or not where:
                    where += "|" + (m.context or "").split("\n")[0][:150]
                self.fail(kind, session, shown,
                          "%s [%s, %s]\n%s" % ("; ".join(problems), origin,
                                                m.severity, m.text()),
                          key=("; ".join(problems), m.severity, m.sqlstate,
                               re.sub(r"\d+", "N", where)))
        if result.ok:
            self.stats["statements ok"] += 1
        return result

    def recover(self, session):
        """Leave an aborted transaction (or subtransaction)."""
        if session.in_tx and session.aborted:
            if session.savepoints and self.rng.random() < 0.85:
                self.run(session, "ROLLBACK TO SAVEPOINT %s" % session.savepoints[-1],
                         category="tx")
                if session.aborted:
                    self.run(session, "ROLLBACK", category="tx")
            else:
                self.run(session, "ROLLBACK", category="tx")

    def end_tx(self, session, commit=False):
        if session.in_tx:
            self.run(session, "COMMIT" if commit and not session.aborted else "ROLLBACK", category="tx")
        session.in_tx, session.savepoints, session.aborted = False, [], False

    def scenario(self, session, statements, category):
        """Run statements that must not outlive this step: in a transaction
        or savepoint that is rolled back at the end, errors or not.  Each
        statement gets a savepoint of its own, so one error does not stop
        the rest."""
        self.recover(session)
        outer = session.in_tx
        name = "fz_scn_%d" % self.next_counter()
        self.run(session, ("SAVEPOINT " + name) if outer else "BEGIN", category="tx")
        for sql, funcs in statements:
            if not session.in_tx or session.aborted:
                break
            inner = "fz_in_%d" % self.next_counter()
            self.run(session, "SAVEPOINT " + inner, category="tx")
            if session.aborted:
                break
            self.run(session, sql, funcs, category)
            if not session.in_tx:
                break
            if session.aborted:
                self.run(session, "ROLLBACK TO SAVEPOINT " + inner, category="tx")
            if session.aborted:
                break
            self.run(session, "RELEASE SAVEPOINT " + inner, category="tx")
        if outer and session.in_tx and name in session.savepoints:
            self.run(session, "ROLLBACK TO SAVEPOINT " + name, category="tx")
            if not session.aborted:
                self.run(session, "RELEASE SAVEPOINT " + name, category="tx")
        if session.in_tx and (not outer or session.aborted):
            self.run(session, "ROLLBACK", category="tx")

    def next_counter(self):
        self.counter += 1
        return self.counter

    # ----- values ----------------------------------------------------------

    def pick(self, seq):
        return self.rng.choice(seq)

    def chance(self, p):
        return self.rng.random() < p

    def rel_literal(self, session):
        """An expression of type regclass."""
        r = self.rng.random()
        tables = self.tables(session, kinds=("r", "p", "f", "v", "m", "S", "i", "I", "c"))
        if r < 0.6 and tables:
            rel = self.pick(tables)
            if self.chance(0.15):
                return "%d::oid::regclass" % rel.oid
            return lit(rel.qname) + "::regclass"
        if r < 0.7 and self.dropped_oids:
            return "%d::oid::regclass" % self.pick(self.dropped_oids)
        if r < 0.75:
            return "'pg_temp.fz_tmp'::regclass"
        if r < 0.8:
            toasts = [t.toast for t in self.rels if t.toast]
            if toasts:
                return lit(self.pick(toasts)) + "::regclass"
        return self.pick([
            "'pg_class'::regclass", "'pg_catalog.pg_proc'::regclass",
            "'dbcore.migrations'::regclass", "'dbcore.tenant_tables'::regclass",
            "'dbcore.migration_log'::regclass", "'dbcore.migration_log_id_seq'::regclass",
            "'information_schema.tables'::regclass", "0::oid::regclass",
            "1::oid::regclass", "4294967295::oid::regclass", "'-'::regclass",
            "'fz_su.no_such_table'::regclass", "'pg_toast.pg_toast_1259'::regclass",
            "'dbcore.migrations_pkey'::regclass",
        ])

    def column_name(self, session, rel=None):
        if rel is None and self.rels and self.chance(0.7):
            rel = self.pick(self.tables(session) or self.rels)
        if rel is not None and rel.columns and self.chance(0.75):
            return self.pick(rel.columns)[0]
        return self.pick(ODD_NAMES)

    def text_value(self, session, argname=""):
        """An expression of type text, chosen by what the argument means."""
        a = argname.lower()
        if self.chance(0.06):
            return self.pick(HUGE_TEXT)
        generic = self.chance(0.2)
        if not generic:
            if a == "version" or a.endswith("version"):
                return self.version_value()
            if a in ("up_sql", "down_sql", "script") or a.endswith("_sql"):
                return self.script_value(session)
            if a == "client_id":
                return self.client_value()
            if a == "token":
                return lit(self.tokens.token()) if self.chance(0.8) else self.client_value()
            if a == "clock":
                return lit(self.pick(CLOCKS))
            if a == "key_id":
                return lit(self.pick(KEY_IDS))
            if a == "column_name":
                return lit(self.column_name(session))
            if a == "name":
                return lit(self.pick(["create users", "x", "", " ", "baseline",
                                      "\u00fcnicode name", "a" * 1000] + ODD_NAMES[:20]))
        r = self.rng.random()
        if r < 0.25:
            return lit(self.pick(ODD_NAMES))
        if r < 0.4:
            return self.version_value()
        if r < 0.55:
            return self.client_value()
        if r < 0.65:
            return lit(self.tokens.token())
        if r < 0.75:
            return self.script_value(session)
        return lit(self.pick(["", " ", "x", "on", "off", "true", "0", "-1",
                              "transaction", "fk1", "updated_at", "client_id"]))

    def version_value(self):
        r = self.rng.random()
        if r < 0.45:
            return lit(str(self.next_version))
        if r < 0.6 and self.applied_versions:
            return lit(self.pick(self.applied_versions))
        if r < 0.65:
            return self.pick(["repeat('1', %d)" % MB, "repeat('1.', %d) || '1'" % (MB // 2)])
        return lit(self.pick(VERSION_POOL))

    def client_value(self):
        r = self.rng.random()
        if r < 0.15:
            return lit(self.tokens.token())
        if r < 0.2:
            return "repeat('a', %d)" % MB
        return lit(self.pick(CLIENT_TEXT))

    def script_value(self, session):
        s = session.schema or "fz_su"
        n = self.next_counter()
        v = self.pick(VERSION_POOL + [str(self.next_version), str(self.next_version + 1)])
        plain = self.sessions["plain"].user
        r = self.rng.random()
        if r < 0.05:
            return self.pick(HUGE_SCRIPTS)
        if r < 0.35:
            script = self.pick([
                "CREATE TABLE {s}.mig_{n} (id int, updated_at timestamptz, client_id uuid)",
                "CREATE TABLE {s}.mig_{n} (id int, updated_at timestamptz); "
                "SELECT dbcore.attach_updated_at('{s}.mig_{n}')",
                "CREATE TABLE {s}.mig_{n} (client_id uuid NOT NULL, v int); "
                "SELECT dbcore.enable_tenant_scoping('{s}.mig_{n}')",
                "CREATE TABLE {s}.mig_{n} (client_id bigint, k int) PARTITION BY RANGE (k); "
                "CREATE TABLE {s}.mig_{n}_a PARTITION OF {s}.mig_{n} FOR VALUES FROM (0) TO (10); "
                "SELECT dbcore.enable_tenant_scoping('{s}.mig_{n}')",
                "DROP TABLE IF EXISTS {s}.mig_{m}",
                "ALTER TABLE {s}.ts ADD COLUMN c_{n} int",
                "ALTER TABLE {s}.ts DROP COLUMN IF EXISTS updated_at",
                "UPDATE {s}.ts SET payload = 'mig {n}'",
                "INSERT INTO {s}.ts (payload) VALUES ('mig {n}')",
                "SELECT dbcore.detach_updated_at('{s}.ts')",
                "SELECT dbcore.disable_tenant_scoping('{s}.tenant_uuid')",
                "ALTER TABLE {s}.parted DETACH PARTITION {s}.parted_lo",
                "CREATE TABLE {s}.mig_p_{n} PARTITION OF {s}.parted FOR VALUES FROM ({lo}) TO ({hi})",
            ]).format(s=s, n=n, m=max(1, n - self.rng.randrange(1, 40)),
                      lo=1000 + n * 2, hi=1001 + n * 2)
            return lit(script)
        script = self.pick([
            "SELECT 1", "SELECT 1/0", "", " ", ";", ";;", "-- only a comment",
            "/* unterminated", "SELECT 'unterminated", "COMMIT", "ROLLBACK", "BEGIN",
            "SAVEPOINT fz", "RELEASE SAVEPOINT fz", "ROLLBACK TO SAVEPOINT fz", "VACUUM",
            "CREATE INDEX CONCURRENTLY fz_ci ON %s.ts (id)" % s,
            "COPY %s.ts FROM STDIN" % s, "COPY %s.ts TO STDOUT" % s,
            "ALTER SYSTEM SET work_mem = 64", "CREATE DATABASE fz_never",
            "SET search_path = fz_evil", "SET ROLE %s" % ident(plain), "RESET ROLE",
            "SET LOCAL dbcore.client_id = '%s'" % CLIENT_A,
            "SELECT dbcore.set_client('%s'::uuid)" % CLIENT_B,
            "SELECT dbcore.apply_migration('%s', 'nested', 'SELECT 1')" % v.replace("'", "''"),
            "SELECT dbcore.revert_migration('%s')" % v.replace("'", "''"),
            "SELECT dbcore.begin_migration('%s', 'nested', 'SELECT 1')" % v.replace("'", "''"),
            "SELECT dbcore.finish_migration('%s')" % v.replace("'", "''"),
            "SELECT dbcore.repair_migration('%s')" % v.replace("'", "''"),
            "SELECT dbcore.baseline('%s')" % v.replace("'", "''"),
            "DO $x$ BEGIN RAISE EXCEPTION 'migration failed on purpose'; END $x$",
            "DO $x$ BEGIN PERFORM pg_sleep(0.01); END $x$",
            "LISTEN fz", "NOTIFY fz", "PREPARE TRANSACTION 'fz'", "SELECT pg_sleep(0.02)",
            "LOCK TABLE dbcore.migrations", "DELETE FROM dbcore.migration_log",
            "UPDATE dbcore.migrations SET name = name", "TRUNCATE dbcore.migrations",
            "INSERT INTO dbcore.migrations (version_key, version, name, state, checksum, applied_at, applied_by) "
            "VALUES (dbcore.migration_version_key('%d'), '%d', 'forged', 'applied', repeat('0', 64), now(), 'fz')"
            % (self.next_version, self.next_version),
            "ALTER TABLE dbcore.migrations RENAME TO migrations_moved",
            "DROP EXTENSION dbcore CASCADE; CREATE EXTENSION dbcore", "DROP EXTENSION dbcore",
            "EXPLAIN ANALYZE SELECT 1", "DISCARD ALL", "RESET ALL",
            "SET dbcore.allow_out_of_order = on", "SET SESSION AUTHORIZATION %s" % ident(plain),
            "SELECT 1; SELECT 2; SELECT 3", "CREATE TABLE fz_dup(); CREATE TABLE fz_dup()",
            "SELECT dbcore.current_client_id()", "TRUNCATE %s.tenant_uuid" % s,
            "CALL no_such_procedure()", "SELECT * FROM dbcore.migration_status()",
        ])
        return lit(script)

    def value(self, typ, argname, session):
        """An SQL expression for an argument of type typ."""
        if self.chance(0.08):
            return "NULL" if self.chance(0.5) else "NULL::" + typ
        if typ.endswith("[]"):
            return self.array_value(typ[:-2], argname, session)
        if typ == "regclass":
            return self.rel_literal(session)
        if typ == "name":
            if self.chance(0.05):
                return "repeat('x', %d)::name" % MB
            return lit(self.column_name(session) if argname == "column_name" or self.chance(0.6)
                       else self.pick(ODD_NAMES)) + "::name"
        if typ == "text":
            return self.text_value(session, argname)
        if typ == "boolean":
            return self.pick(["true", "false", "NULL::boolean"])
        if typ == "uuid":
            return self.pick(UUIDS)
        if typ == "bigint":
            return self.pick(BIGINTS)
        if typ == "integer":
            return self.pick(INTEGERS)
        if typ == "interval":
            return self.pick(INTERVALS) + "::interval"
        if typ == "oid":
            return self.pick(["0", "1", "4294967295"] + [str(r.oid) for r in self.rels[:5]])
        # A type this fuzzer does not know (a new function): NULL, a wrong
        # value, or a text that may convert.
        return self.pick(["NULL::%s" % typ, self.pick(WRONG_TYPED), self.text_value(session)])

    def array_value(self, base, argname, session):
        r = self.rng.random()
        if r < 0.1:
            return "'{}'::%s[]" % base
        if r < 0.15:
            return "'{NULL}'::%s[]" % base
        if r < 0.2:
            return "'[5:6]={1,2}'::%s[]" % base
        if r < 0.25:
            return "'{{1},{2}}'::%s[]" % base
        if r < 0.3:
            return "ARRAY(SELECT g::text FROM generate_series(1, 5000) g)::%s[]" % base
        single = argname[:-1] if argname.endswith("s") else argname
        if argname == "up_scripts":
            single = "up_sql"
        elif argname == "versions":
            single = "version"
        elif argname == "column_names":
            single = "column_name"
        n = self.rng.randrange(0, 5)
        items = [self.value(base, single, session) for _ in range(n)]
        return "ARRAY[%s]::%s[]" % (", ".join(items), base)

    # ----- actions ---------------------------------------------------------

    def act_call(self, session):
        """Call one dbcore function, any way it can be called."""
        f = self.pick(self.funcs)
        self.call_function(session, f)

    def call_expr(self, session, f, form):
        n = len(f.argtypes)
        args = [self.value(t, nm, session) for t, nm in zip(f.argtypes, f.argnames)]
        cast = lambda a, t: a if "::" in a[-40:] or a.startswith("ARRAY") else "%s::%s" % (a, t)  # noqa: E731
        if form == "named" and all(f.argnames):
            keep = list(range(n))
            if f.ndefaults and self.chance(0.5):
                drop = self.rng.sample(range(n - f.ndefaults, n), self.rng.randrange(1, f.ndefaults + 1))
                keep = [i for i in keep if i not in drop]
            self.rng.shuffle(keep)
            parts = ["%s => %s" % (ident(f.argnames[i]) if self.chance(0.3) else f.argnames[i],
                                   args[i]) for i in keep]
        elif form == "defaults" and f.ndefaults:
            parts = [cast(a, t) for a, t in zip(args, f.argtypes)][:n - self.rng.randrange(1, f.ndefaults + 1)]
        elif form == "wrongtype" and n:
            i = self.rng.randrange(n)
            parts = [cast(a, t) for a, t in zip(args, f.argtypes)]
            parts[i] = self.pick(WRONG_TYPED)
        elif form == "arity":
            parts = [cast(a, t) for a, t in zip(args, f.argtypes)]
            if parts and self.chance(0.5):
                parts.pop()
            else:
                parts.append(self.pick(WRONG_TYPED + ["NULL"]))
        else:
            parts = [cast(a, t) if self.chance(0.75) else a for a, t in zip(args, f.argtypes)]
        return "dbcore.%s(%s)" % (ident(f.name) if self.chance(0.1) else f.name, ", ".join(parts))

    def call_function(self, session, f, form=None):
        if form is None:
            form = self.rng.choices(["positional", "named", "defaults", "wrongtype", "arity", "context"],
                                    [50, 12, 10, 8, 4, 16])[0]
        ctx = None
        if form == "context":
            ctx = self.pick(["rows", "sub", "do", "explain", "prepare", "cte", "case", "where",
                             "values", "cursor", "lateral", "view"])
            form = "positional"
        expr = self.call_expr(session, f, form)
        sig = [f.signature]
        if f.retset:
            target = "SELECT %s FROM %s" % (self.pick(["*", "count(*)"]), expr)
        else:
            target = "SELECT %s" % expr
        if ctx == "rows":
            k = self.rng.randrange(1, 4)
            if f.retset:
                sql = "SELECT count(*) FROM %s, generate_series(1, %d)" % (expr, k)
            else:
                sql = "SELECT %s FROM generate_series(1, %d)" % (expr, k)
        elif ctx == "sub":
            sql = "SELECT count(*) FROM (%s) fz_s" % target
        elif ctx == "do":
            sql = "DO $fz$ BEGIN PERFORM %s; END $fz$" % (
                ("count(*) FROM " + expr) if f.retset else expr)
        elif ctx == "explain":
            sql = "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) " + target
        elif ctx == "prepare":
            name = "fz_p%d" % self.next_counter()
            sql = "PREPARE %s AS %s; EXECUTE %s; EXECUTE %s; DEALLOCATE %s" % (name, target, name, name, name)
        elif ctx == "cte":
            sql = "WITH fz_c AS MATERIALIZED (%s) SELECT count(*) FROM fz_c" % target
        elif ctx == "case":
            sql = "SELECT CASE WHEN %s THEN (%s) END" % (self.pick(["false", "true", "random() < 2"]),
                                                       "SELECT 1 FROM (%s) fz_s LIMIT 1" % target)
        elif ctx == "where":
            sql = "SELECT count(*) FROM generate_series(1, 3) g WHERE (%s) IS NOT NULL" % (
                expr if not f.retset else "SELECT count(*) FROM %s" % expr)
        elif ctx == "values":
            sql = "VALUES ((%s))" % target
        elif ctx == "cursor" and session.in_tx and not session.aborted:
            name = "fz_cur%d" % self.next_counter()
            sql = "DECLARE %s CURSOR FOR %s; FETCH 2 FROM %s; CLOSE %s" % (name, target, name, name)
        elif ctx == "lateral":
            sql = "SELECT count(*) FROM generate_series(1, 2) g, LATERAL (%s) fz_l" % target
        elif ctx == "view":
            name = "fz_v%d" % self.next_counter()
            sql = "CREATE TEMP VIEW %s AS %s; SELECT * FROM %s; DROP VIEW %s" % (name, target, name, name)
        else:
            sql = target
        self.run(session, sql, sig, "call")

    def act_trigger(self, session):
        """A dbcore trigger function as any kind of trigger, then DML."""
        trig_funcs = [f for f in self.funcs if f.is_trigger]
        non_trig = [f for f in self.funcs if not f.is_trigger]
        if not trig_funcs:
            return
        f = self.pick(trig_funcs) if self.chance(0.93) else self.pick(non_trig)
        kinds = ("r", "p", "f", "v", "m") if self.chance(0.9) else ("r", "p", "f", "v", "m", "S", "c")
        rels = self.tables(session, kinds=kinds)
        if not rels:
            return
        rel = self.pick(rels)
        timing = self.rng.choices(["BEFORE", "AFTER", "INSTEAD OF"], [60, 25, 15])[0]
        if rel.kind == "v" and self.chance(0.6):
            timing = "INSTEAD OF"
        events = self.rng.sample(["INSERT", "UPDATE", "DELETE", "TRUNCATE"],
                                 self.rng.randrange(1, 4))
        if "UPDATE" in events and rel.columns and self.chance(0.2):
            events[events.index("UPDATE")] = "UPDATE OF %s" % ident(self.pick(rel.columns)[0])
        level = "ROW" if self.chance(0.75) else "STATEMENT"
        args = []
        nargs = self.rng.choices([0, 1, 2, 3, 4], [20, 45, 20, 10, 5])[0]
        for i in range(nargs):
            r = self.rng.random()
            if i == 0 and r < 0.6 and rel.columns:
                args.append(self.pick(rel.columns)[0])
            elif r < 0.75:
                args.append(self.pick(["skip_noop", "keep_explicit", "transaction_timestamp",
                                       "statement_timestamp", "clock_timestamp", "SKIP_NOOP",
                                       "client_id", "updated_at"]))
            elif r < 0.97:
                args.append(self.pick(ODD_NAMES))
            else:
                args.append("x" * 100000)
        name = self.pick(["fz_trg_%d" % self.next_counter(), "dbcore_updated_at",
                          "dbcore_tenant_guard", "dbcore_tenant_truncate_guard"])
        constraint = timing == "AFTER" and level == "ROW" and self.chance(0.2)
        referencing = ""
        if timing == "AFTER" and self.chance(0.15):
            referencing = " REFERENCING NEW TABLE AS fz_new OLD TABLE AS fz_old"
        when = ""
        if level == "ROW" and self.chance(0.1) and "INSERT" not in events:
            when = " WHEN (OLD IS DISTINCT FROM NEW)"
        sql = "CREATE %s%sTRIGGER %s %s %s ON %s%s%s FOR EACH %s%s EXECUTE FUNCTION dbcore.%s(%s)" % (
            "OR REPLACE " if not constraint and self.chance(0.3) else "",
            "CONSTRAINT " if constraint else "",
            ident(name), timing, " OR ".join(events), rel.qname,
            " DEFERRABLE INITIALLY DEFERRED" if constraint and self.chance(0.5) else "",
            referencing, level, when, f.name, ", ".join(lit(a) for a in args))
        statements = [(sql, [f.signature])]
        for _ in range(self.rng.randrange(1, 4)):
            statements.append((self.dml_sql(session, rel), []))
        if self.chance(0.5) and session.schema is not None:
            # Keep the trigger for later steps.
            for sql, funcs in statements:
                self.run(session, sql, funcs, "trigger")
                self.recover(session)
        else:
            self.scenario(session, statements, "trigger")

    def act_event_trigger(self, session):
        """An event trigger function on an event, then DDL; rolled back."""
        if session.label != "super":
            f = self.pick([f for f in self.funcs if f.is_event_trigger] or self.funcs)
            self.run(session, "CREATE EVENT TRIGGER fz_evt ON ddl_command_end EXECUTE FUNCTION dbcore.%s()"
                     % f.name, [f.signature], "event")
            self.recover(session)
            return
        evt_funcs = [f for f in self.funcs if f.is_event_trigger]
        others = [f for f in self.funcs if not f.is_event_trigger and not f.argtypes]
        f = self.pick(evt_funcs) if evt_funcs and self.chance(0.9) else self.pick(others or self.funcs)
        event = self.pick(["ddl_command_start", "ddl_command_end", "sql_drop", "table_rewrite"])
        when = ""
        if self.chance(0.3):
            when = " WHEN TAG IN (%s)" % ", ".join(lit(t) for t in self.rng.sample(
                ["CREATE TABLE", "ALTER TABLE", "DROP TABLE", "CREATE INDEX", "CREATE TRIGGER"], 2))
        statements = [("CREATE EVENT TRIGGER fz_evt_%d ON %s%s EXECUTE FUNCTION dbcore.%s()"
                       % (self.next_counter(), event, when, f.name), [f.signature])]
        if self.chance(0.3):
            statements.append(("ALTER EVENT TRIGGER %s %s" % (
                self.pick(["dbcore_tenant_ddl_start", "dbcore_tenant_ddl_end", "dbcore_tenant_sql_drop",
                           "dbcore_auto_updated_at"]),
                self.pick(["DISABLE", "ENABLE REPLICA", "ENABLE ALWAYS"])), []))
        if self.chance(0.3):
            statements.append((self.pick(TAMPER), []))
            if self.chance(0.5):
                statements.append(("SET LOCAL ROLE %s" % ident(self.sessions["app"].user), []))
        for _ in range(self.rng.randrange(1, 4)):
            statements.append((self.ddl_sql(session), []))
        if self.chance(0.5):
            f2 = self.pick(self.funcs)
            statements.append(("SELECT " + self.call_expr(session, f2, "positional"), [f2.signature]))
        self.scenario(session, statements, "event")

    def act_dml(self, session):
        rels = self.tables(session, kinds=("r", "p", "f", "v", "m"))
        if not rels:
            return
        rel = self.pick(rels)
        if self.chance(0.3):
            self.set_client(session)
        self.run(session, self.dml_sql(session, rel), [], "dml")

    def set_client(self, session):
        c = self.rng.random()
        if c < 0.5:
            self.run(session, "SELECT dbcore.set_client(%s::uuid)" % lit(self.pick(CLIENT_UUIDS)),
                     ["dbcore.set_client(uuid)"], "scope")
        elif c < 0.65:
            self.run(session, "SELECT dbcore.set_client(%s::bigint)" % self.pick(["1", "2", "3"]),
                     ["dbcore.set_client(bigint)"], "scope")
        elif c < 0.75:
            self.run(session, "SELECT dbcore.set_client(%s::text)" % lit(self.pick(["tenant-a", "tenant-b", "1"])),
                     ["dbcore.set_client(text)"], "scope")
        elif c < 0.9:
            self.run(session, "SELECT dbcore.set_client_token(%s)" % lit(self.tokens.mint()),
                     ["dbcore.set_client_token(text)"], "scope")
        else:
            self.run(session, "SET LOCAL dbcore.client_id = %s" % lit(self.pick(CLIENT_UUIDS)), [], "scope")

    def col_value(self, typ):
        t = typ.lower()
        if t.startswith("timestamp with"):
            return self.pick(["NULL", "now()", "'infinity'", "'-infinity'", "'2000-01-01 00:00+00'",
                              "'294276-12-31 23:59:59+00'", "clock_timestamp()", "DEFAULT"])
        if t.startswith("timestamp"):
            return self.pick(["NULL", "'infinity'", "'2000-01-01'", "localtimestamp", "DEFAULT"])
        if t == "uuid":
            return self.pick(["NULL", "DEFAULT"] + UUIDS)
        if t in ("bigint", "integer", "smallint"):
            return self.pick(["NULL", "1", "2", "3", "-1", "0", "DEFAULT", "42"])
        if t.startswith(("text", "character", "name")):
            return self.pick(["NULL", "'tenant-a'", "'tenant-b'", "''", "DEFAULT", "'1'",
                              "repeat('x', %d)" % MB,
                              "(SELECT string_agg(md5(g::text), '') FROM generate_series(1, 3000) g)",
                              lit(self.pick(ODD_NAMES))])
        if t == "boolean":
            return self.pick(["NULL", "true", "false"])
        if t.startswith("numeric"):
            return self.pick(["NULL", "1.5", "'NaN'"])
        if t in ("jsonb", "json"):
            return self.pick(["NULL", "'{}'"])
        if t == "date":
            return self.pick(["NULL", "'2000-01-01'"])
        return self.pick(["NULL", "DEFAULT"])

    def dml_sql(self, session, rel):
        cols = [c for c in rel.columns if c[2] == ""]
        q = rel.qname
        r = self.rng.random()
        if not cols or r < 0.08:
            return self.pick(["INSERT INTO %s DEFAULT VALUES" % q, "TRUNCATE %s" % q,
                              "DELETE FROM %s" % q, "SELECT count(*) FROM %s" % q])
        if r < 0.35:
            chosen = self.rng.sample(cols, self.rng.randrange(1, len(cols) + 1))
            names = ", ".join(ident(c[0]) for c in chosen)
            rows = self.rng.randrange(1, 4)
            values = ", ".join("(%s)" % ", ".join(self.col_value(c[1]) for c in chosen) for _ in range(rows))
            tail = self.pick(["", "", " RETURNING *", " ON CONFLICT DO NOTHING"])
            if self.chance(0.15):
                return "INSERT INTO %s (%s) SELECT %s FROM generate_series(1, %d)%s" % (
                    q, names, ", ".join(self.col_value(c[1]).replace("DEFAULT", "NULL") for c in chosen),
                    self.rng.randrange(1, 60), tail)
            return "INSERT INTO %s (%s) VALUES %s%s" % (q, names, values, tail)
        if r < 0.7:
            c = self.pick(cols)
            u = self.rng.random()
            if u < 0.3:
                setl = "%s = %s" % (ident(c[0]), ident(c[0]))          # no-op
            elif u < 0.4 and any(x[0] == "k" for x in cols):
                setl = "k = k + %d" % self.pick([1, 100, 1000])          # row movement
            else:
                setl = "%s = %s" % (ident(c[0]), self.col_value(c[1]))
            where = self.pick(["", " WHERE ctid = ANY (ARRAY(SELECT ctid FROM %s LIMIT 2))" % q
                               if rel.kind == "r" else "", " WHERE false"])
            return "UPDATE %s SET %s%s%s" % (q, setl, where, self.pick(["", " RETURNING *"]))
        if r < 0.8:
            return self.pick(["DELETE FROM %s WHERE ctid = ANY (ARRAY(SELECT ctid FROM %s LIMIT 2))" % (q, q)
                              if rel.kind == "r" else "DELETE FROM %s" % q,
                              "TRUNCATE %s" % q, "TRUNCATE %s CASCADE" % q])
        if r < 0.88:
            c = self.pick(cols)
            return ("MERGE INTO %s t USING (SELECT %s AS v) s ON t.%s = s.v "
                    "WHEN MATCHED THEN UPDATE SET %s = s.v WHEN NOT MATCHED THEN INSERT (%s) VALUES (s.v)") % (
                        q, self.col_value(c[1]).replace("DEFAULT", "NULL"), ident(c[0]),
                        ident(c[0]), ident(c[0]))
        if r < 0.94:
            return "SELECT * FROM %s%s" % (q, self.pick(["", " FOR UPDATE", " LIMIT 3", " FOR SHARE SKIP LOCKED"]))
        c = self.pick(cols)
        return "WITH fz_u AS (UPDATE %s SET %s = %s RETURNING 1) SELECT count(*) FROM fz_u" % (
            q, ident(c[0]), self.col_value(c[1]).replace("DEFAULT", "NULL"))

    def act_churn(self, session):
        """Change a table under a dbcore trigger between two uses of the same
        prepared statement: the trigger's cached state must notice."""
        rels = [r for r in self.tables(session, kinds=("r", "p")) if r.columns and (
            any(t.startswith("dbcore") for t in r.triggers) or r is TEMP_REL)]
        if not rels:
            return
        rel = self.pick(rels)
        q = rel.qname
        names = [c[0] for c in rel.columns]
        target = self.pick([n for n in names if n in ("updated_at", "client_id", "cid")] or names)
        other = self.pick(names)
        n = self.next_counter()
        p = "fz_churn_%d" % n
        tcol = ident(target)
        setl = "%s = %s" % (ident(other), ident(other))
        change = self.pick([
            "ALTER TABLE %s DROP COLUMN %s" % (q, tcol),
            "ALTER TABLE %s RENAME COLUMN %s TO %s" % (q, tcol, ident(target + "_old")),
            "ALTER TABLE %s ALTER COLUMN %s TYPE %s USING NULL" % (q, tcol, self.pick(COLUMN_TYPES)),
            "ALTER TABLE %s ALTER COLUMN %s TYPE text" % (q, tcol),
            "ALTER TABLE %s ADD COLUMN fz_c%d text DEFAULT 'x', DROP COLUMN %s" % (q, n, ident(other)),
            "ALTER TABLE %s DROP COLUMN %s, ADD COLUMN %s timestamptz" % (q, tcol, tcol),
            "ALTER TABLE %s DROP COLUMN %s, ADD COLUMN %s uuid DEFAULT '%s'" % (q, tcol, tcol, CLIENT_A),
            "ALTER TABLE %s ADD COLUMN fz_pad%d int8 DEFAULT 7" % (q, n),
            "ALTER TABLE %s ALTER COLUMN %s SET DEFAULT now()" % (q, tcol),
        ])
        stmts = [
            ("PREPARE %s AS UPDATE %s SET %s" % (p, q, setl), []),
            ("EXECUTE %s" % p, []),
            (self.dml_sql(session, rel), []),
            (change, []),
            ("EXECUTE %s" % p, []),
            (self.dml_sql(session, rel), []),
            ("INSERT INTO %s DEFAULT VALUES" % q, []),
            ("EXECUTE %s" % p, []),
            ("DEALLOCATE %s" % p, []),
        ]
        if self.chance(0.3):
            self.set_client(session)
        if self.chance(0.6):
            self.scenario(session, stmts, "churn")
        else:
            for sql, funcs in stmts:
                self.run(session, sql, funcs, "churn")
                self.recover(session)
            self.run(session, "DEALLOCATE ALL", [], "churn")

    def act_ddl(self, session):
        self.run(session, self.ddl_sql(session), [], "ddl")

    def ddl_sql(self, session):
        rels = self.tables(session, kinds=("r", "p", "f"))
        s = session.schema or "pg_temp"
        n = self.next_counter()
        if not rels or self.chance(0.12):
            return self.pick([
                "CREATE TABLE %s.fz_new_%d (id int, updated_at timestamptz, client_id uuid)" % (s, n),
                "CREATE TABLE %s.fz_new_%d (updated_at timestamp, x text)" % (s, n),
                "CREATE TABLE %s.fz_new_%d AS SELECT now() AS updated_at, %s::uuid AS client_id" % (s, n, lit(CLIENT_A)),
                "CREATE TABLE %s.%s (%s timestamptz, %s uuid)" % (s, ident("fz %d %s" % (n, self.pick(ODD_NAMES))),
                                                                 ident(self.pick(ODD_NAMES) or "c"), ident("client_id")),
                "CREATE TEMP TABLE fz_tmp_%d (updated_at timestamptz, client_id uuid)" % n,
                "SELECT now() AS updated_at INTO %s.fz_into_%d" % (s, n),
            ])
        rel = self.pick(rels)
        q = rel.qname
        cols = rel.columns
        col = ident(self.pick(cols)[0]) if cols else ident("updated_at")
        other = self.pick(rels)
        r = self.rng.randrange(40)
        if r < 4:
            return "ALTER TABLE %s DROP COLUMN %s%s" % (q, col, self.pick(["", " CASCADE"]))
        if r < 7:
            return "ALTER TABLE %s RENAME COLUMN %s TO %s" % (q, col, ident(self.pick(ODD_NAMES) or "renamed"))
        if r < 10:
            t = self.pick(COLUMN_TYPES)
            return "ALTER TABLE %s ALTER COLUMN %s TYPE %s USING %s" % (
                q, col, t, self.pick(["NULL::%s" % t, "%s::text::%s" % (col, t), "%s::%s" % (col, t)]))
        if r < 13:
            name = self.pick(["updated_at", "client_id", "cid", "k", self.pick(ODD_NAMES) or "c"])
            t = self.pick(COLUMN_TYPES[:9])
            extra = self.pick(["", "", " DEFAULT now()", " NOT NULL DEFAULT '%s'" % CLIENT_A,
                               " GENERATED ALWAYS AS ('2000-01-01'::timestamptz) STORED",
                               " DEFAULT dbcore.current_client_id()"])
            return "ALTER TABLE %s ADD COLUMN %s %s%s" % (q, ident(name), t, extra)
        if r < 15:
            return "ALTER TABLE %s ALTER COLUMN %s %s" % (q, col, self.pick(
                ["SET NOT NULL", "DROP NOT NULL", "SET DEFAULT now()", "DROP DEFAULT",
                 "SET STORAGE EXTERNAL", "SET DEFAULT dbcore.current_client_id()",
                 "SET DEFAULT dbcore.current_client_id_text()"]))
        if r < 18:
            return "ALTER TABLE %s %s" % (q, self.pick(
                ["ENABLE ROW LEVEL SECURITY", "DISABLE ROW LEVEL SECURITY", "FORCE ROW LEVEL SECURITY",
                 "NO FORCE ROW LEVEL SECURITY", "DISABLE TRIGGER ALL", "DISABLE TRIGGER USER",
                 "ENABLE TRIGGER ALL", "SET UNLOGGED", "SET LOGGED", "SET (fillfactor = 50)",
                 "REPLICA IDENTITY FULL"]))
        if r < 20 and rel.triggers:
            t = ident(self.pick(rel.triggers))
            return self.pick(["ALTER TABLE %s DISABLE TRIGGER %s" % (q, t),
                              "ALTER TABLE %s ENABLE REPLICA TRIGGER %s" % (q, t),
                              "ALTER TABLE %s ENABLE ALWAYS TRIGGER %s" % (q, t),
                              "DROP TRIGGER %s ON %s" % (t, q),
                              "ALTER TRIGGER %s ON %s RENAME TO %s" % (t, q, ident("fz_renamed_%d" % n))])
        if r < 22:
            return self.pick([
                "DROP POLICY dbcore_tenant_isolation ON %s" % q,
                "DROP POLICY dbcore_tenant_access ON %s" % q,
                "CREATE POLICY fz_open_%d ON %s USING (true)" % (n, q),
                "ALTER POLICY dbcore_tenant_access ON %s USING (true)" % q,
                "CREATE POLICY fz_pol_%d ON %s AS RESTRICTIVE USING (dbcore.current_client_id_text() IS NOT NULL)" % (n, q),
            ])
        if r < 24:
            return self.pick([
                "ALTER TABLE %s RENAME TO %s" % (q, ident("fz_ren_%d" % n)),
                "ALTER TABLE %s SET SCHEMA fz_other" % q,
                "ALTER TABLE %s OWNER TO %s" % (q, ident(self.pick([s_.user for s_ in self.sessions.values()]))),
            ])
        if r < 26:
            if rel.kind == "p":
                kids = [x for x in self.rels if x.is_partition and x.schema == rel.schema]
                if kids and self.chance(0.5):
                    return "ALTER TABLE %s DETACH PARTITION %s" % (q, self.pick(kids).qname)
                return "CREATE TABLE %s.%s PARTITION OF %s %s" % (
                    rel.schema, ident("fz_part_%d" % n), q, self.partition_bound(rel, n))
            parted = [x for x in self.rels if x.kind == "p" and x.schema == rel.schema]
            if parted and rel.kind == "r":
                p = self.pick(parted)
                return "ALTER TABLE %s ATTACH PARTITION %s %s" % (p.qname, q, self.partition_bound(p, n))
            return "CREATE TABLE %s.%s (LIKE %s INCLUDING ALL)" % (rel.schema, ident("fz_like_%d" % n), q)
        if r < 28:
            return self.pick([
                "CREATE TABLE %s.%s () INHERITS (%s)" % (rel.schema, ident("fz_inh_%d" % n), q),
                "ALTER TABLE %s INHERIT %s" % (q, other.qname),
                "ALTER TABLE %s NO INHERIT %s" % (q, other.qname),
            ])
        if r < 30:
            return "DROP TABLE %s%s" % (q, self.pick(["", " CASCADE"]))
        if r < 32:
            return self.pick([
                "CREATE UNIQUE INDEX fz_ux_%d ON %s (%s)" % (n, q, col),
                "CREATE INDEX fz_ix_%d ON %s (dbcore.migration_version_key(%s::text))" % (n, q, col),
                "ALTER TABLE %s ADD CONSTRAINT fz_chk_%d CHECK (dbcore.current_client_id_text() <> '') NOT VALID" % (q, n),
                "REINDEX TABLE %s" % q, "CLUSTER %s" % q, "ANALYZE %s" % q,
            ])
        if r < 34:
            return self.pick([
                "CREATE VIEW %s.%s AS SELECT * FROM %s" % (rel.schema, ident("fz_view_%d" % n), q),
                "CREATE VIEW %s.%s WITH (security_invoker) AS SELECT * FROM %s" % (rel.schema, ident("fz_view_%d" % n), q),
                "CREATE MATERIALIZED VIEW %s.%s AS SELECT * FROM %s" % (rel.schema, ident("fz_mv_%d" % n), q),
                "COMMENT ON TABLE %s IS %s" % (q, lit(self.pick(ODD_NAMES))),
            ])
        if r < 36:
            plain = ident(self.sessions["plain"].user)
            return self.pick(["GRANT TRUNCATE ON %s TO %s" % (q, plain),
                              "GRANT ALL ON %s TO PUBLIC" % q,
                              "REVOKE ALL ON %s FROM %s" % (q, plain)])
        if r < 38:
            return "SELECT dbcore.%s(%s%s)" % (
                self.pick(["attach_updated_at", "detach_updated_at", "enable_tenant_scoping",
                           "disable_tenant_scoping"]), lit(rel.qname),
                "" if self.chance(0.5) else ", %s" % lit(self.column_name(session, rel)))
        return self.pick([
            "CREATE TRIGGER fz_supp_%d BEFORE UPDATE ON %s FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger()" % (n, q),
            "ALTER TABLE %s ADD COLUMN IF NOT EXISTS updated_at timestamptz" % q,
            "ALTER TABLE %s ADD COLUMN IF NOT EXISTS client_id uuid" % q,
        ])

    def partition_bound(self, parted, n):
        key = parted.partkey.upper()
        if key.startswith("LIST"):
            return "FOR VALUES IN (%d)" % (100 + n)
        if key.startswith("HASH"):
            return "FOR VALUES WITH (MODULUS %d, REMAINDER %d)" % (self.pick([2, 4]), self.rng.randrange(2))
        if self.chance(0.1):
            return "DEFAULT"
        lo = 1000 + 2 * n
        return "FOR VALUES FROM (%d) TO (%d)" % (lo, lo + 1)

    def act_guc(self, session):
        super_ = session.label == "super"
        db = ident(self.args.db)
        r = self.rng.randrange(30)
        if r < 6:
            sql = "SET %sdbcore.client_id = %s" % (self.pick(["", "LOCAL "]), self.client_value())
        elif r < 9:
            sql = "SELECT set_config('dbcore.client_id', %s, %s)" % (self.client_value(), self.pick(["true", "false"]))
        elif r < 10:
            sql = self.pick(["RESET dbcore.client_id", "SHOW dbcore.client_id",
                             "SELECT current_setting('dbcore.client_id', true)"])
        elif r < 13:
            value = self.tokens.keys_value if self.chance(0.5) else self.pick(SIGNING_KEY_VALUES_BAD)
            if self.chance(0.05):
                value = "k1:" + "A" * MB
            sql = "SET %sdbcore.signing_keys = %s" % (self.pick(["", "LOCAL "]), lit(value))
        elif r < 14:
            sql = self.pick(["RESET dbcore.signing_keys", "SHOW dbcore.signing_keys",
                             "SELECT current_setting('dbcore.signing_keys')"])
        elif r < 16:
            sql = "SET dbcore.token_max_ttl = %s" % self.pick(
                ["0", "1", "60", "604800", "604801", "-1", "'1h'", "'1min'", "'abc'", "'1e10'", "3600", "''"])
        elif r < 18:
            sql = "SET %s = %s" % (self.pick(["dbcore.session_scope", "dbcore.auto_updated_at",
                                              "dbcore.allow_out_of_order"]),
                                   self.pick(["on", "off", "'maybe'", "''", "1", "true"]))
        elif r < 19:
            sql = "SET %s = %s" % (ident("dbcore." + self.pick(ODD_NAMES + ["nope", "client", "CLIENT_ID"])), "'x'")
        elif r < 21 and super_:
            role = ident(self.pick([self.sessions["app"].user, self.sessions["plain"].user]))
            setting = self.pick([
                "dbcore.client_id = %s" % lit(self.pick(["", CLIENT_A])),
                "dbcore.signing_keys = %s" % lit(self.tokens.keys_value if self.chance(0.7)
                                                 else self.pick(SIGNING_KEY_VALUES_BAD)),
                "dbcore.session_scope = %s" % self.pick(["on", "off"]),
                "dbcore.token_max_ttl = %s" % self.pick(["60", "0", "'x'"]),
                "dbcore.auto_updated_at = on",
            ])
            sql = self.pick(["ALTER ROLE %s IN DATABASE %s SET %s" % (role, db, setting),
                             "ALTER ROLE %s IN DATABASE %s RESET ALL" % (role, db),
                             "ALTER DATABASE %s SET dbcore.client_id = %s" % (db, lit(CLIENT_B)),
                             "ALTER DATABASE %s SET dbcore.session_scope = on" % db,
                             "ALTER DATABASE %s RESET dbcore.session_scope" % db])
        elif r < 22:
            sql = ("CREATE OR REPLACE FUNCTION pg_temp.fz_scoped() RETURNS text LANGUAGE sql "
                   "SET dbcore.client_id = %s AS 'SELECT dbcore.current_client_id_text()'; "
                   "SELECT pg_temp.fz_scoped()") % lit(self.pick(["", CLIENT_A, self.tokens.mint()]))
        elif r < 24:
            sql = self.pick(["SET force_parallel_mode = on", "SET force_parallel_mode = off",
                             "SET parallel_setup_cost = 0", "SET max_parallel_workers_per_gather = 2",
                             "SET timezone = 'Pacific/Chatham'", "SET timezone = 'UTC'",
                             "SET timezone = '-14'", "SET search_path = fz_su, dbcore, public",
                             "SET search_path = ''", "RESET search_path", "SET datestyle = 'SQL, DMY'",
                             "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
                             "SET TRANSACTION READ ONLY"])
        elif r < 27 and super_:
            sql = self.pick(["SET ROLE %s" % ident(self.sessions["app"].user),
                             "SET ROLE %s" % ident(self.sessions["plain"].user),
                             "RESET ROLE", "RESET ROLE",
                             "SET SESSION AUTHORIZATION %s" % ident(self.sessions["plain"].user),
                             "RESET SESSION AUTHORIZATION",
                             "SET session_replication_role = replica", "SET session_replication_role = origin",
                             "LOAD 'dbcore'", "SET track_functions = 'all'"])
        elif r < 28 and not session.in_tx:
            sql = self.pick(["DISCARD ALL", "DISCARD TEMP", "RESET ALL", "DISCARD PLANS"])
        else:
            sql = "SELECT dbcore.set_client_token(%s)" % lit(self.tokens.token())
        self.run(session, sql, ["dbcore.set_client_token(text)"] if "set_client_token" in sql else [], "guc")

    def good_script(self, session):
        """An up or down script that works (most of the time)."""
        s = session.schema or "fz_su"
        n = self.next_counter()
        return lit(self.pick([
            "SELECT 1",
            "CREATE TABLE %s.mig_%d (id int, updated_at timestamptz, client_id uuid)" % (s, n),
            "CREATE TABLE %s.mig_%d (id int, updated_at timestamptz); SELECT dbcore.attach_updated_at('%s.mig_%d')" % (s, n, s, n),
            "CREATE TABLE %s.mig_%d (client_id uuid NOT NULL, v int); SELECT dbcore.enable_tenant_scoping('%s.mig_%d')" % (s, n, s, n),
            "INSERT INTO %s.ts (payload) VALUES ('migrated')" % s,
            "UPDATE %s.ts SET payload = payload || '+'" % s,
            "COMMENT ON SCHEMA %s IS 'migrated %d'" % (s, n),
        ]))

    def act_migration(self, session):
        """A coherent use of the ledger, with broken pieces mixed in."""
        v = str(self.next_version)
        up = self.good_script(session) if self.chance(0.6) else self.script_value(session)
        down = "" if self.chance(0.2) else ", " + (self.good_script(session) if self.chance(0.6)
                                                  else self.script_value(session))
        r = self.rng.randrange(12)
        if r < 4:
            funcs = ["dbcore.apply_migration(text,text,text,text)"]
            sql = "SELECT dbcore.apply_migration(%s, %s, %s%s)" % (lit(v), lit("fz migration %s" % v), up, down)
            res = self.run(session, sql, funcs, "migration")
            if res is not None and res.ok:
                self.applied_versions.append(v)
                self.next_version += 1
        elif r < 6:
            target = self.pick(self.applied_versions) if self.applied_versions and self.chance(0.8) else v
            if self.applied_versions and self.chance(0.5):
                target = self.applied_versions[-1]
            self.run(session, "SELECT dbcore.revert_migration(%s)" % lit(target),
                     ["dbcore.revert_migration(text)"], "migration")
        elif r < 8:
            funcs = ["dbcore.begin_migration(text,text,text,text)", "dbcore.finish_migration(text)"]
            stmts = [("SELECT dbcore.begin_migration(%s, 'fz nontx', %s%s)" % (lit(v), up, down), funcs[:1])]
            if self.chance(0.7):
                stmts.append((self.pick(["SELECT 1", "CREATE INDEX ON %s.ts (id)" % (session.schema or "fz_su"),
                                         "VACUUM %s.ts" % (session.schema or "fz_su")]), []))
                stmts.append(("SELECT dbcore.finish_migration(%s)" % lit(v), funcs[1:]))
            if self.chance(0.3):
                stmts.append(("SELECT dbcore.repair_migration(%s)" % lit(v), ["dbcore.repair_migration(text)"]))
            for sql, fs in stmts:
                self.run(session, sql, fs, "migration")
                self.recover(session)
            self.next_version += 1
        elif r < 9:
            self.run(session, "SELECT * FROM dbcore.verify_migrations(%s, %s)" % (
                self.array_value("text", "versions", session), self.array_value("text", "up_scripts", session)),
                ["dbcore.verify_migrations(text[],text[])"], "migration")
        elif r < 10 and session.label == "super":
            # An empty ledger takes a baseline; then migrations after it.
            b = self.rng.randrange(1, 50)
            self.scenario(session, [
                ("DELETE FROM dbcore.migrations", []),
                ("SELECT dbcore.baseline(%s)" % lit(str(b)), ["dbcore.baseline(text)"]),
                ("SELECT dbcore.baseline(%s)" % self.version_value(), ["dbcore.baseline(text)"]),
                ("SELECT dbcore.apply_migration(%s, 'old', 'SELECT 1')" % lit(str(b - 1)),
                 ["dbcore.apply_migration(text,text,text,text)"]),
                ("SELECT dbcore.apply_migration(%s, 'new', %s)" % (lit(str(b + 1)), up),
                 ["dbcore.apply_migration(text,text,text,text)"]),
                ("SELECT * FROM dbcore.verify_migrations(ARRAY[%s, %s], ARRAY['SELECT 1', 'x'])"
                 % (lit(str(b)), lit(str(b + 1))), ["dbcore.verify_migrations(text[],text[])"]),
                ("SELECT dbcore.revert_migration(%s)" % lit(str(b)), ["dbcore.revert_migration(text)"]),
            ], "migration")
        elif r < 11 and session.label == "super":
            # Tokens minted by the server and used at once.
            self.scenario(session, [
                ("SET LOCAL dbcore.signing_keys = %s" % lit(self.tokens.keys_value), []),
                ("SELECT dbcore.set_client_token(dbcore.mint_client_token(%s, %s, %s))" % (
                    self.client_value(), self.pick(INTERVALS), self.pick(["NULL"] + [lit(k) for k in KEY_IDS])),
                 ["dbcore.set_client_token(text)", "dbcore.mint_client_token(text,interval,text)"]),
                ("SELECT dbcore.current_client_id_text(), dbcore.current_client_id()",
                 ["dbcore.current_client_id_text()", "dbcore.current_client_id()"]),
                (self.dml_sql(session, self.pick(self.tables(session) or [TEMP_REL])), []),
            ], "scope")
        else:
            self.run(session, self.pick([
                "SELECT * FROM dbcore.migration_status()", "SELECT dbcore.health()",
                "SELECT * FROM dbcore.tenant_audit()", "SELECT dbcore.baseline(%s)" % self.version_value(),
                "SET dbcore.allow_out_of_order = %s" % self.pick(["on", "off"])]), [], "migration")

    def act_tx(self, session):
        """Transaction control: begin, savepoints, commit, rollback, prepare."""
        if not session.in_tx:
            self.run(session, self.pick(["BEGIN", "BEGIN", "BEGIN ISOLATION LEVEL SERIALIZABLE",
                                         "BEGIN ISOLATION LEVEL REPEATABLE READ", "BEGIN READ ONLY",
                                         "START TRANSACTION"]), [], "tx")
            return
        r = self.rng.random()
        if session.tx_statements > 15 or r < 0.15:
            self.run(session, self.pick(["COMMIT", "COMMIT", "ROLLBACK", "END"]), [], "tx")
        elif r < 0.5 and len(session.savepoints) < 8:
            self.run(session, "SAVEPOINT fz_sp_%d" % self.next_counter(), [], "tx")
        elif r < 0.65 and session.savepoints:
            self.run(session, "RELEASE SAVEPOINT %s" % self.pick(session.savepoints), [], "tx")
        elif r < 0.8 and session.savepoints:
            self.run(session, "ROLLBACK TO SAVEPOINT %s" % self.pick(session.savepoints), [], "tx")
        elif r < 0.85 and session.label == "super" and not session.aborted:
            gid = "fz_gid_%d" % self.next_counter()
            self.set_client(session)
            self.run(session, "PREPARE TRANSACTION %s" % lit(gid), [], "tx")
            self.run(session, "%s PREPARED %s" % (self.pick(["COMMIT", "ROLLBACK"]), lit(gid)), [], "tx")
        else:
            self.set_client(session)

    def act_reconnect(self, session):
        """A fresh backend: library not loaded yet, caches empty."""
        self.stats["reconnects"] += 1
        session.connect()
        self.setup_session(session)
        if self.chance(0.5):
            # Before the library is loaded, dbcore.* settings are placeholders.
            self.run(session, self.pick([
                "SET dbcore.client_id = %s" % lit(CLIENT_A),
                "SET dbcore.signing_keys = %s" % lit(self.tokens.keys_value),
                "SET dbcore.session_scope = on", "SET dbcore.nonexistent = 'x'",
                "BEGIN; SET dbcore.client_id = %s; COMMIT" % lit(CLIENT_B)]), [], "guc")
            self.recover(session)

    def setup_session(self, session):
        if session.label == "super" and self.chance(0.5):
            self.run(session, "SET dbcore.signing_keys = %s" % lit(self.tokens.keys_value), [], "setup")
        self.run(session, "CREATE TEMP TABLE fz_tmp (id int, updated_at timestamptz, client_id uuid)", [], "setup")
        if self.chance(0.5):
            self.run(session, "SELECT dbcore.attach_updated_at('pg_temp.fz_tmp')",
                     ["dbcore.attach_updated_at(regclass,name,boolean,boolean,text,boolean)"], "setup")
        if self.chance(0.3):
            self.run(session, "SELECT dbcore.enable_tenant_scoping('pg_temp.fz_tmp')",
                     ["dbcore.enable_tenant_scoping(regclass,name)"], "setup")
        self.recover(session)

    # ----- fixtures ------------------------------------------------------

    def fixtures(self, session):
        """The tables every step picks from, in the session's schema."""
        s = session.schema
        for sql in fixture_sql(s, self.has_file_fdw and session.label == "super"):
            self.run(session, sql, [], "setup")
            self.recover(session)

    def rebuild(self):
        """Start the tables over (and the extension, should a script have
        dropped it)."""
        self.stats["fixture rebuilds"] += 1
        for sess in self.sessions.values():
            self.end_tx(sess)
        sup = self.sessions["super"]
        app = self.sessions["app"]
        plain = self.sessions["plain"]
        self.run(sup, "RESET ROLE; RESET SESSION AUTHORIZATION; SET session_replication_role = origin", [], "setup")
        for sql in admin_sql(app.user, plain.user):
            self.run(sup, sql, [], "setup")
            self.recover(sup)
        self.fixtures(sup)
        self.fixtures(app)
        self.refresh()

    # ----- main loop -------------------------------------------------------

    ACTIONS = [("call", 34), ("dml", 18), ("ddl", 10), ("trigger", 9), ("guc", 9),
               ("migration", 7), ("tx", 9), ("event_trigger", 2), ("churn", 3),
               ("reconnect", 0.6)]

    def step(self):
        self.steps += 1
        label = self.rng.choices(["super", "app", "plain"], [45, 38, 17])[0]
        session = self.sessions[label]
        action = self.rng.choices([a for a, _ in self.ACTIONS], [w for _, w in self.ACTIONS])[0]
        getattr(self, "act_" + action)(session)
        self.recover(session)
        if session.in_tx and session.tx_statements > 25:
            self.run(session, "COMMIT", [], "tx")

    def setup(self):
        args = self.args
        avail = oneshot(args, "SELECT count(*) FROM pg_available_extensions WHERE name = 'file_fdw'")
        self.has_file_fdw = avail[0][0] != "0"
        oneshot(args, "SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS dbcore")
        self.load_functions()
        # Strict mode (tokens only) for the ordinary roles, or not.
        for role in (args.app_role, args.plain_role):
            if self.chance(0.5):
                oneshot(args, "ALTER ROLE %s IN DATABASE %s SET dbcore.signing_keys = %s"
                        % (ident(role), ident(args.db), lit(self.tokens.keys_value)))
        self.sessions["super"] = Session(self, "super", args.superuser, "fz_su")
        self.sessions["app"] = Session(self, "app", args.app_role, "fz_app")
        self.sessions["plain"] = Session(self, "plain", args.plain_role, None)
        self.rebuild()
        for sess in self.sessions.values():
            self.setup_session(sess)
        self.refresh()

    def coverage(self):
        """Functions never called (the generator must reach every one)."""
        return [f.signature for f in self.funcs if self.calls[f.signature] == 0]

    def run_loop(self):
        deadline = time.monotonic() + self.args.seconds
        last_refresh = 0
        while True:
            if self.args.steps and self.steps >= self.args.steps:
                break
            if not self.args.steps and time.monotonic() >= deadline:
                break
            self.step()
            if self.steps - last_refresh >= 120:
                last_refresh = self.steps
                # No session may hold a lock while the catalog is read.
                for sess in self.sessions.values():
                    self.end_tx(sess, commit=self.chance(0.5))
                if self.refresh() or len(self.tables()) < 8 or self.chance(0.08):
                    self.rebuild()
        # Make sure every function got at least one call of each kind the
        # catalog asks for, also on a short run.
        for f in self.funcs:
            if self.calls[f.signature] == 0:
                sess = self.sessions["super"]
                if f.is_trigger:
                    rel = self.pick(self.tables(sess) or self.rels)
                    self.scenario(sess, [("CREATE TRIGGER fz_last BEFORE UPDATE ON %s FOR EACH ROW "
                                          "EXECUTE FUNCTION dbcore.%s()" % (rel.qname, f.name), [f.signature]),
                                         ("UPDATE %s SET %s = %s" % (rel.qname, ident(rel.columns[0][0]),
                                                                     ident(rel.columns[0][0])) if rel.columns
                                          else "SELECT 1", [])], "trigger")
                else:
                    self.call_function(sess, f, "positional")
                self.recover(sess)

    def server_counts(self):
        """Successful calls of dbcore functions as the server counted them."""
        rows = oneshot(self.args, "SELECT funcid::regprocedure::text, calls FROM pg_stat_user_functions "
                                  "WHERE schemaname = 'dbcore'")
        return {r[0]: int(r[1]) for r in rows}

    def close(self):
        for sess in self.sessions.values():
            try:
                sess.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass


def balanced(sql):
    """Parentheses balanced outside quotes (else psql would wait for more)."""
    depth = 0
    i = 0
    n = len(sql)
    while i < n:
        c = sql[i]
        if c == "'":
            j = sql.find("'", i + 1)
            while j != -1 and j + 1 < n and sql[j + 1] == "'":
                j = sql.find("'", j + 2)
            if j == -1:
                return False
            i = j + 1
            continue
        if c == '"':
            j = sql.find('"', i + 1)
            while j != -1 and j + 1 < n and sql[j + 1] == '"':
                j = sql.find('"', j + 2)
            if j == -1:
                return False
            i = j + 1
            continue
        if c == "$" and sql.startswith("$fz$", i):
            j = sql.find("$fz$", i + 4)
            if j == -1:
                return False
            i = j + 4
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth < 0:
                return False
        i += 1
    return depth == 0


TAMPER = [
    "ALTER TABLE dbcore.tenant_tables RENAME TO tenant_tables_moved",
    "ALTER TABLE dbcore.tenant_tables DROP COLUMN root",
    "ALTER TABLE dbcore.tenant_tables RENAME COLUMN column_name TO col",
    "DROP FUNCTION dbcore.tenant_scoping_problems() CASCADE",
    "DROP FUNCTION dbcore._tenant_after_ddl()",
    "ALTER TABLE dbcore.migrations RENAME TO migrations_moved",
    "ALTER TABLE dbcore.migrations DROP COLUMN down_sql",
    "ALTER TABLE dbcore.migrations ADD COLUMN fz int NOT NULL DEFAULT 1",
    "DELETE FROM dbcore.tenant_tables",
    "INSERT INTO dbcore.tenant_tables VALUES (12345, 'client_id', NULL)",
    "INSERT INTO dbcore.tenant_tables VALUES ('fz_su.ts', 'no_such_column', NULL) ON CONFLICT DO NOTHING",
    "UPDATE dbcore.tenant_tables SET column_name = 'updated_at'",
    "UPDATE dbcore.tenant_tables SET root = tbl",
    "UPDATE dbcore.tenant_tables SET root = 'fz_su.ts'",
    "ALTER FUNCTION dbcore.current_client_id() RENAME TO current_client_id_moved",
    "REVOKE EXECUTE ON FUNCTION dbcore.current_client_id() FROM PUBLIC",
    "DROP EXTENSION dbcore CASCADE",
    "ALTER EXTENSION dbcore UPDATE",
    "DROP EVENT TRIGGER dbcore_tenant_ddl_start",
    "DROP EVENT TRIGGER dbcore_tenant_ddl_end",
    "DROP EVENT TRIGGER dbcore_tenant_sql_drop",
]


def admin_sql(app, plain):
    """Run as the superuser before the fixtures: extension, grants, schemas."""
    a, p = ident(app), ident(plain)
    return [
        "SET client_min_messages = warning",
        "CREATE EXTENSION IF NOT EXISTS dbcore",
        "DROP SCHEMA IF EXISTS fz_su, fz_app, fz_other CASCADE",
        "CREATE SCHEMA fz_su",
        "CREATE SCHEMA fz_app AUTHORIZATION %s" % a,
        "CREATE SCHEMA fz_other",
        "GRANT USAGE ON SCHEMA dbcore, fz_su, fz_app, fz_other TO %s, %s" % (a, p),
        "GRANT CREATE ON SCHEMA fz_other TO %s" % a,
        "GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA dbcore TO %s" % a,
        "ALTER DEFAULT PRIVILEGES IN SCHEMA fz_su GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %s, %s" % (a, p),
        "ALTER DEFAULT PRIVILEGES FOR ROLE %s IN SCHEMA fz_app GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %s" % (a, p),
        "ALTER DEFAULT PRIVILEGES IN SCHEMA fz_su GRANT USAGE ON SEQUENCES TO %s, %s" % (a, p),
        "ALTER DEFAULT PRIVILEGES FOR ROLE %s IN SCHEMA fz_app GRANT USAGE ON SEQUENCES TO %s" % (a, p),
        "RESET client_min_messages",
    ]


def fixture_sql(s, foreign):
    """Tables that use every dbcore feature, in schema s."""
    q = lambda name: "%s.%s" % (s, name)  # noqa: E731
    long_table = "t" * 63
    long_col = "c" * 63
    odd_table = 'Mixed Case "Tbl"; drop'
    stmts = [
        "CREATE TABLE %s (id serial PRIMARY KEY, payload text, updated_at timestamptz, created_at timestamptz DEFAULT now())" % q("ts"),
        "SELECT dbcore.attach_updated_at('%s')" % q("ts"),
        "CREATE TABLE %s (id int, note text, updated_at timestamp without time zone)" % q("ts_local"),
        "SELECT dbcore.attach_updated_at('%s', skip_noop => true, clock => 'clock', on_insert => true)" % q("ts_local"),
        "CREATE TABLE %s (a int2, b text, c int8, d bool, e numeric, f text, g char(3), updated_at timestamptz, h int4, i text)" % q("wide"),
        "SELECT dbcore.attach_updated_at('%s', keep_explicit => true, clock => 'statement')" % q("wide"),
        "INSERT INTO %s SELECT g, CASE WHEN g %% 2 = 0 THEN (SELECT string_agg(md5(x::text), '') FROM generate_series(1, 3000) x) END, "
        "CASE WHEN g %% 3 = 0 THEN g END, g %% 2 = 0, g / 7.0, NULL, 'abc', NULL, g, repeat('y', g * 100) FROM generate_series(1, 12) g" % q("wide"),
        "ALTER TABLE %s ADD COLUMN j int, ADD COLUMN stamped timestamptz DEFAULT now()" % q("wide"),
        "CREATE TABLE %s (id serial, client_id uuid, body text, updated_at timestamptz)" % q("tenant_uuid"),
        "SELECT dbcore.enable_tenant_scoping('%s')" % q("tenant_uuid"),
        "SELECT dbcore.attach_updated_at('%s', on_insert => true)" % q("tenant_uuid"),
        "CREATE INDEX ON %s (client_id)" % q("tenant_uuid"),
        "CREATE TABLE %s (client_id bigint, v int)" % q("tenant_big"),
        "SELECT dbcore.enable_tenant_scoping('%s')" % q("tenant_big"),
        "CREATE TABLE %s (client_id int, v int, updated_at timestamptz)" % q("tenant_int"),
        "SELECT dbcore.enable_tenant_scoping('%s')" % q("tenant_int"),
        "CREATE TABLE %s (cid text, v text, UNIQUE (v))" % q("tenant_text"),
        "SELECT dbcore.enable_tenant_scoping('%s', 'cid')" % q("tenant_text"),
        "CREATE TABLE %s (client_id uuid NOT NULL, k int NOT NULL, updated_at timestamptz, v text) PARTITION BY RANGE (k)" % q("parted"),
        "CREATE TABLE %s PARTITION OF %s FOR VALUES FROM (MINVALUE) TO (100)" % (q("parted_lo"), q("parted")),
        "CREATE TABLE %s PARTITION OF %s FOR VALUES FROM (100) TO (1000) PARTITION BY HASH (client_id)" % (q("parted_hi"), q("parted")),
        "CREATE TABLE %s PARTITION OF %s FOR VALUES WITH (MODULUS 2, REMAINDER 0)" % (q("parted_hi_0"), q("parted_hi")),
        "CREATE TABLE %s PARTITION OF %s FOR VALUES WITH (MODULUS 2, REMAINDER 1)" % (q("parted_hi_1"), q("parted_hi")),
        "SELECT dbcore.enable_tenant_scoping('%s')" % q("parted"),
        "SELECT dbcore.attach_updated_at('%s')" % q("parted"),
        "CREATE TABLE %s (client_id uuid NOT NULL, k int NOT NULL, updated_at timestamptz, v text)" % q("loose_part"),
        "CREATE TABLE %s (updated_at timestamptz, a int)" % q("inh_parent"),
        "CREATE TABLE %s (b text) INHERITS (%s)" % (q("inh_child"), q("inh_parent")),
        "SELECT dbcore.attach_updated_at('%s')" % q("inh_parent"),
        'CREATE TABLE %s."%s" ("Updated At" timestamptz, "client id" uuid, "\u00fc" text)' % (s, odd_table.replace('"', '""')),
        "SELECT dbcore.attach_updated_at(%s, 'Updated At')" % lit('%s."%s"' % (s, odd_table.replace('"', '""'))),
        "SELECT dbcore.enable_tenant_scoping(%s, 'client id')" % lit('%s."%s"' % (s, odd_table.replace('"', '""'))),
        "CREATE TABLE %s.%s (%s timestamptz, client_id uuid)" % (s, long_table, long_col),
        "SELECT dbcore.attach_updated_at('%s.%s', '%s')" % (s, long_table, long_col),
        "CREATE TABLE %s (id int, updated_at text, client_id jsonb)" % q("wrong_types"),
        "CREATE TABLE %s (a int, updated_at timestamptz GENERATED ALWAYS AS ('2000-01-01'::timestamptz) STORED)" % q("generated"),
        "CREATE TABLE %s (a int)" % q("plain"),
        "CREATE VIEW %s AS SELECT * FROM %s" % (q("v_ts"), q("ts")),
        "CREATE VIEW %s AS SELECT a.id, b.id AS bid, a.updated_at FROM %s a, %s b" % (q("v_join"), q("ts"), q("ts")),
        "CREATE VIEW %s WITH (security_invoker) AS SELECT * FROM %s" % (q("v_tenant"), q("tenant_uuid")),
        "CREATE MATERIALIZED VIEW %s AS SELECT * FROM %s" % (q("mv"), q("ts")),
        "CREATE SEQUENCE %s" % q("seq"),
        "CREATE TYPE %s AS (updated_at timestamptz, client_id uuid)" % q("comp"),
        "INSERT INTO %s (payload) SELECT 'row ' || g FROM generate_series(1, 20) g" % q("ts"),
        "INSERT INTO %s (id, note) SELECT g, 'n' FROM generate_series(1, 5) g" % q("ts_local"),
        "INSERT INTO %s (a) SELECT g FROM generate_series(1, 5) g" % q("inh_child"),
    ]
    for client in (CLIENT_A, CLIENT_B):
        stmts.append("BEGIN; SELECT dbcore.set_client('%s'::uuid); "
                     "INSERT INTO %s (body) SELECT 'b' || g FROM generate_series(1, 5) g; "
                     "INSERT INTO %s (k, v) SELECT g * 37 %% 900, 'v' FROM generate_series(1, 10) g; "
                     "COMMIT" % (client, q("tenant_uuid"), q("parted")))
    stmts.append("BEGIN; SELECT dbcore.set_client(1::bigint); INSERT INTO %s (v) VALUES (1), (2); "
                 "INSERT INTO %s (v) VALUES (1); COMMIT" % (q("tenant_big"), q("tenant_int")))
    stmts.append("BEGIN; SELECT dbcore.set_client('tenant-a'::text); INSERT INTO %s (v) VALUES ('x'); COMMIT"
                 % q("tenant_text"))
    if foreign:
        stmts += [
            "CREATE EXTENSION IF NOT EXISTS file_fdw",
            "DO $fz$ BEGIN CREATE SERVER fz_files FOREIGN DATA WRAPPER file_fdw; "
            "EXCEPTION WHEN duplicate_object THEN NULL; END $fz$",
            "CREATE FOREIGN TABLE %s (updated_at timestamptz, client_id uuid) SERVER fz_files "
            "OPTIONS (filename '/dev/null', format 'csv')" % q("ft"),
        ]
    return stmts


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------

SQLSTATE_CLASSES = {
    "0A": "feature not supported", "0B": "invalid transaction initiation",
    "22": "data exception", "23": "integrity constraint violation",
    "25": "invalid transaction state", "26": "invalid SQL statement name",
    "2B": "dependent privilege descriptors still exist", "2D": "invalid transaction termination",
    "34": "invalid cursor name", "39": "external routine invocation exception",
    "3B": "savepoint exception", "3D": "invalid catalog name", "3F": "invalid schema name",
    "40": "transaction rollback", "42": "syntax error or access rule violation",
    "53": "insufficient resources", "54": "program limit exceeded",
    "55": "object not in prerequisite state", "57": "operator intervention",
    "58": "system error", "F0": "configuration file error", "P0": "PL/pgSQL error",
    "XX": "internal error", "09": "triggered action exception",
    "27": "triggered data change violation", "2F": "SQL routine exception",
    "0L": "invalid grantor", "0P": "invalid role specification", "21": "cardinality violation",
    "24": "invalid cursor state", "28": "invalid authorization specification",
    "44": "WITH CHECK OPTION violation", "08": "connection exception",
}


def report(fz, started, server_counts):
    st = fz.stats
    out = []
    total_errors = sum(fz.sqlstates.values())
    by_class = collections.Counter()
    for code, n in fz.sqlstates.items():
        by_class[code[:2]] += n
    tried = sum(fz.calls.values())
    out.append("fuzz_sql: seed %d, %.1f s, %d steps, %d statements (%d as superuser, %d as owner role, "
               "%d as plain role), %d ok" % (
                   fz.args.seed, time.monotonic() - started, fz.steps, st["statements"],
                   st["statements as super"], st["statements as app"], st["statements as plain"],
                   st["statements ok"]))
    out.append("fuzz_sql: %d dbcore function calls tried (%d of %d functions), plus %d DML, %d DDL, "
               "%d trigger, %d event-trigger, %d setting, %d migration, %d schema-churn statements" % (
                   tried, sum(1 for f in fz.funcs if fz.calls[f.signature]), len(fz.funcs),
                   st["category dml"], st["category ddl"], st["category trigger"], st["category event"],
                   st["category guc"], st["category migration"], st["category churn"]))
    counted = sum(server_counts.values())
    out.append("fuzz_sql: the server counted %d successful calls of %d dbcore functions "
               "(pg_stat_user_functions: triggers and event triggers included)" % (
                   counted, sum(1 for v in server_counts.values() if v)))
    out.append("fuzz_sql: %d errors by SQLSTATE class: %s" % (total_errors, ", ".join(
        "%s %s %d" % (c, SQLSTATE_CLASSES.get(c, "?"), n) for c, n in sorted(by_class.items()))))
    out.append("fuzz_sql: errors raised by dbcore code %d, by PostgreSQL inside dbcore code %d, "
               "by PostgreSQL alone %d; %d messages checked" % (
                   fz.origins[Origin.DBCORE], fz.origins[Origin.VIA], fz.origins[Origin.CORE],
                   fz.messages_checked))
    for what, n in sorted(fz.core_xx.items()):
        out.append("fuzz_sql: PostgreSQL's own XX000 (not dbcore, not failed), %d times: %s" % (n, what))
    kinds = collections.Counter(f.kind for f in fz.failures)
    out.append("fuzz_sql: crashes %d, internal errors %d, hangs %d, bad messages %d" % (
        kinds["crash"], kinds["internal"], kinds["hang"], kinds["message"]))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", required=True)
    ap.add_argument("--superuser", default=os.environ.get("PGUSER", "postgres"))
    ap.add_argument("--app-role", required=True)
    ap.add_argument("--plain-role", required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--seconds", type=float, default=45)
    ap.add_argument("--steps", type=int, default=0, help="stop after this many steps instead of a time")
    ap.add_argument("--psql", default="psql")
    ap.add_argument("--src-dir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src"))
    ap.add_argument("--statement-wait", type=float, default=30.0,
                    help="seconds to wait for one statement before calling it hung")
    ap.add_argument("--show", type=int, default=20, help="failures to print in full")
    ap.add_argument("--summary", help="write the figures as JSON to this file")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    try:
        args.c_files = sorted(f for f in os.listdir(args.src_dir) if f.endswith(".c"))
    except OSError:
        args.c_files = []
    if not args.c_files:
        print("not ok - no C files in %s: cannot tell dbcore's errors apart" % args.src_dir)
        return 2

    fz = Fuzzer(args)
    started = time.monotonic()
    aborted = None
    sentinel = None
    try:
        # An idle session of its own: any backend crash makes the postmaster
        # end every session, this one included.
        sentinel = Psql(args.psql, args.db, args.superuser)
        sentinel.run("SELECT 1")
        fz.setup()
        fz.run_loop()
    except (SessionDied, StatementHung) as e:
        aborted = "%s: %s" % (type(e).__name__, e)
    except RuntimeError as e:
        print("not ok - fuzzer could not run: %s" % e)
        fz.close()
        return 2
    finally:
        fz.close()

    sentinel_ok = False
    if sentinel is not None:
        try:
            sentinel_ok = sentinel.run("SELECT 1", timeout=10).ok
        except (SessionDied, StatementHung):
            sentinel_ok = False
        sentinel.close()
    if not sentinel_ok:
        fz.fail("crash", None, "SELECT 1", "the idle sentinel session was lost: the server crashed or restarted")

    missing = fz.coverage()
    server = {}
    if aborted is None:
        time.sleep(0.5)
        try:
            server = fz.server_counts()
        except RuntimeError as e:
            print("# could not read pg_stat_user_functions: %s" % e)
    for line in report(fz, started, server):
        print("# " + line)
    if args.verbose:
        for f in fz.funcs:
            print("#   %-75s tried %5d  server-counted %6d" % (f.signature, fz.calls[f.signature],
                                                              server.get(f.signature, 0)))
        for code, n in sorted(fz.sqlstates.items()):
            print("#   SQLSTATE %s: %d" % (code, n))
        for k, v in sorted(fz.stats.items()):
            print("#   %s: %d" % (k, v))

    kinds = collections.Counter(f.kind for f in fz.failures)
    checks = [
        (not aborted and kinds["crash"] == 0 and kinds["hang"] == 0,
         "every session survived every statement" if not aborted else "run stopped early: %s" % aborted),
        (kinds["internal"] == 0, "no SQLSTATE of class XX (internal error)"),
        (kinds["message"] == 0, "every message passes the message checks (%d checked)" % fz.messages_checked),
        (not missing, "every dbcore function was called (%d)" % len(fz.funcs) if not missing
         else "functions never called: %s" % ", ".join(missing)),
    ]
    for good, text in checks:
        print(("ok - " if good else "not ok - ") + text)
    for i, f in enumerate(fz.failures):
        if i >= args.show:
            print("# ... and %d more failures" % (len(fz.failures) - args.show))
            break
        print("#\n# FAILURE %d: %s (session %s)" % (i + 1, f.kind, f.session))
        print("#   statement: %s" % f.sql.replace("\n", "\\n"))
        print("#   " + f.detail.replace("\n", "\n#   "))
        if f.kind in ("crash", "internal", "hang") and f.history:
            print("#   statements of that session before it (oldest first):")
            for h in f.history[-40:]:
                print("#     " + h[:400].replace("\n", "\\n"))
    print("# replay: FUZZ_SEED=%d FUZZ_STEPS=%d" % (args.seed, fz.steps))

    if args.summary:
        by_class = collections.Counter()
        for code, n in fz.sqlstates.items():
            by_class[code[:2]] += n
        with open(args.summary, "w") as fh:
            json.dump({"seed": args.seed, "steps": fz.steps, "statements": fz.stats["statements"],
                       "calls": sum(fz.calls.values()), "functions": len(fz.funcs),
                       "functions_called": sum(1 for f in fz.funcs if fz.calls[f.signature]),
                       "server_counted_calls": sum(server.values()),
                       "errors_by_class": by_class, "errors_by_sqlstate": fz.sqlstates,
                       "crashes": kinds["crash"] + kinds["hang"], "internal": kinds["internal"],
                       "bad_messages": kinds["message"]}, fh)
    return 0 if all(good for good, _ in checks) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:  # noqa: BLE001 - a bug of the fuzzer itself
        import traceback
        traceback.print_exc()
        print("not ok - the fuzzer itself failed (see the traceback above)")
        sys.exit(2)
