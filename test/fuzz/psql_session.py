"""A psql process driven through a pipe, one statement at a time.

Each statement is followed by a psql meta-command that writes a marker line
with the statement's SQLSTATE to standard error ("\\warn").  Everything the
server reports (errors, warnings, notices, with VERBOSITY verbose: SQLSTATE
and LOCATION) also goes to standard error, in order, so the lines before a
marker belong to that statement.  Query results go to /dev/null.

Python standard library only.
"""

import os
import queue
import re
import subprocess
import threading
import time

SEVERITIES = ("ERROR", "FATAL", "PANIC", "WARNING", "NOTICE", "INFO", "LOG",
              "DEBUG", "DEBUG1", "DEBUG2", "DEBUG3", "DEBUG4", "DEBUG5")

_START = re.compile(r"^(?:psql:[^:]*:\d+: )?(%s):  (?:([0-9A-Z]{5}): )?(.*)$"
                    % "|".join(SEVERITIES))
_FIELD = re.compile(r"^(DETAIL|HINT|CONTEXT|LOCATION|QUERY|STATEMENT|SCHEMA NAME|TABLE NAME|"
                    r"COLUMN NAME|DATATYPE NAME|CONSTRAINT NAME):  (.*)$")
_POSITION = re.compile(r"^LINE \d+: ")

# What psql prints when the server goes away under it.
CONNECTION_LOST = ("server closed the connection unexpectedly",
                   "connection to server was lost",
                   "terminating connection because of crash",
                   "no connection to the server",
                   "could not receive data from server",
                   "could not send data to server")


class SessionDied(Exception):
    """psql exited: the connection was lost (or psql could not start)."""

    def __init__(self, lines, returncode):
        super().__init__("psql exited with status %s" % returncode)
        self.lines = lines
        self.returncode = returncode


class StatementHung(Exception):
    """No marker came back in time."""


class Message:
    """One server message: severity, SQLSTATE, text and the other fields."""

    __slots__ = ("severity", "sqlstate", "message", "detail", "hint",
                 "context", "location", "other")

    def __init__(self, severity, sqlstate, message):
        self.severity = severity
        self.sqlstate = sqlstate or ""
        self.message = message
        self.detail = None
        self.hint = None
        self.context = None
        self.location = None
        self.other = []

    @property
    def is_error(self):
        return self.severity in ("ERROR", "FATAL", "PANIC")

    def location_file(self):
        """The C file of LOCATION ("func, file.c:123"), or ""."""
        if not self.location:
            return ""
        m = re.search(r"([^\s,/]+\.c):\d+\s*$", self.location)
        return m.group(1) if m else ""

    def location_func(self):
        if not self.location:
            return ""
        return self.location.split(",", 1)[0].strip()

    def text(self, limit=600):
        """The whole report, as psql shows it, each field cut to limit."""
        def cut(s):
            s = s.replace("\n", "\\n")
            return s if len(s) <= limit else s[:limit] + "...(%d chars)" % len(s)
        out = ["%s:  %s%s" % (self.severity, self.sqlstate + ": " if self.sqlstate else "",
                              cut(self.message))]
        for name in ("detail", "hint", "context", "location"):
            value = getattr(self, name)
            if value is not None:
                out.append("%s:  %s" % (name.upper(), cut(value)))
        return "\n".join(out)


def parse_messages(lines):
    """Server messages in psql's verbose stderr output; other lines aside."""
    messages = []
    stray = []
    current = None
    field = None
    for line in lines:
        m = _START.match(line)
        if m:
            current = Message(m.group(1), m.group(2), m.group(3))
            field = "message"
            messages.append(current)
            continue
        f = _FIELD.match(line)
        if f and current is not None:
            field = f.group(1).lower()
            if field not in ("detail", "hint", "context", "location"):
                current.other.append(line)
                field = "other"
            else:
                setattr(current, field, f.group(2))
            continue
        if _POSITION.match(line) and current is not None:
            current.other.append(line)
            field = "other"
            continue
        if current is not None and field not in (None, "other"):
            setattr(current, field, getattr(current, field) + "\n" + line)
        elif current is not None:
            current.other.append(line)
        else:
            stray.append(line)
    return messages, stray


class Result:
    __slots__ = ("sqlstate", "messages", "stray", "seconds")

    def __init__(self, sqlstate, messages, stray, seconds):
        self.sqlstate = sqlstate
        self.messages = messages
        self.stray = stray
        self.seconds = seconds

    @property
    def errors(self):
        return [m for m in self.messages if m.is_error]

    @property
    def ok(self):
        return not self.errors and self.sqlstate in ("00000", "", ":SQLSTATE")


class Psql:
    """One psql process, one server session."""

    def __init__(self, psql, dbname, user, env=None, extra_vars=()):
        self.token = os.urandom(6).hex()
        self.seq = 0
        args = [psql, "-X", "-q", "-d", dbname, "-U", user,
                "-v", "ON_ERROR_STOP=0", "-v", "VERBOSITY=verbose",
                "-v", "SHOW_CONTEXT=always", "-P", "pager=off"]
        for v in extra_vars:
            args += ["-v", v]
        penv = dict(os.environ if env is None else env)
        penv["PGCLIENTENCODING"] = "UTF8"
        penv.pop("PGOPTIONS", None)
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, env=penv,
                                     encoding="utf-8", errors="replace",
                                     bufsize=1)
        self.lines = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stderr:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def alive(self):
        return self.proc.poll() is None

    def run(self, sql, timeout=30.0):
        """Run one statement (or several separated by ;) and collect what
        the server said.  Raises SessionDied or StatementHung."""
        self.seq += 1
        marker = "@@%s %d " % (self.token, self.seq)
        text = sql.rstrip()
        if not text.endswith(";"):
            text += ";"
        started = time.monotonic()
        try:
            self.proc.stdin.write(text + "\n\\warn " + marker + ":SQLSTATE\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise SessionDied(self._drain(), self.proc.poll())
        collected = []
        deadline = started + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise StatementHung("no answer within %.0f s" % timeout)
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                try:
                    rc = self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    rc = None
                raise SessionDied(collected, rc)
            if line.startswith(marker):
                sqlstate = line[len(marker):].strip()
                break
            collected.append(line)
        messages, stray = parse_messages(collected)
        return Result(sqlstate, messages, stray, time.monotonic() - started)

    def _drain(self):
        out = []
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                return out
            if line is None:
                return out
            out.append(line)

    def close(self, timeout=10.0):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("\\q\n")
                self.proc.stdin.flush()
                self.proc.stdin.close()
            except (BrokenPipeError, OSError):
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.reader.join(timeout=2)
