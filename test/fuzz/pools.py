"""Value pools of the dbcore SQL fuzzer: SQL expressions (already quoted)
for each kind of argument, and helpers to quote and to mint client tokens.

Nothing here may contain the words the message checks look for ("SPI",
"(null)", "<NULL>", "unexpected", "cache lookup"), a NUL byte, or the
dollar-quote tag $fz$: inputs echoed in messages must not trip the checks.
"""

import base64
import hashlib
import hmac
import time

MB = 1048576

CLIENT_A = "a0000000-0000-4000-8000-00000000000a"
CLIENT_B = "b0000000-0000-4000-8000-00000000000b"
CLIENT_C = "c0000000-0000-4000-8000-00000000000c"
CLIENT_UUIDS = (CLIENT_A, CLIENT_B, CLIENT_C)


def lit(s):
    """A standard-conforming SQL string literal."""
    return "'" + s.replace("'", "''") + "'"


def ident(s):
    """A quoted SQL identifier."""
    return '"' + s.replace('"', '""') + '"'


def qname(schema, name):
    return ident(schema) + "." + ident(name)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


# Odd identifiers: quotes, case, length (63 bytes is NAMEDATALEN - 1),
# multibyte characters, spaces, semicolons and injection attempts.
ODD_NAMES = [
    "updated_at", "client_id", "UPDATED_AT", "Updated_At", "Client_Id",
    "updated at", " updated_at", "updated_at ", "updated_at\t",
    "x" * 63, "y" * 64, "z" * 100, "\u00fc" * 31 + "u", "\u00fc" * 40,
    "\u65e5\u672c\u8a9e\u306e\u5217", "\U0001F642col", "caf\u00e9", "cafe\u0301",
    'a"b', '"', '""', "a'b", "'", "semi;colon", ";",
    "updated_at; DROP TABLE fz_su.ts; --", "x') OR true --", 'x" OR 1=1 --',
    "client_id = client_id", "$1", "%s%s%s%n", "%d%x", "\\", "back\\slash",
    "new\nline", "", " ", ".", "a.b", "fz_su.ts", "dbcore", "pg_catalog",
    "NULL", "null", "oid", "ctid", "xmin", "tableoid", "select", "user",
    "current_user", "*", "-", "--", "/*", "$$", "v1.", "0", "1e10",
]

# Column types to retype columns to, and to add columns of.
COLUMN_TYPES = ["timestamptz", "timestamp", "date", "text", "integer",
                "bigint", "uuid", "jsonb", "timestamptz[]", "numeric",
                "varchar(5)", "time", "interval", "boolean", "name"]

VERSION_POOL = [
    "1", "2", "10", "001", "1.0", "1.1", "1_2", "1-2", "20250101120000",
    "9" * 64, "9" * 65, "1" + ".1" * 31, "1." * 32, "", " ", ".", "..",
    "1.", ".1", "1..2", "a", "1a", "v1", "-1", "+1", " 1", "1 ", "\u0661",
    "\uff11", "1\n", "1'; --", "0", "00", "0.0.0", "18446744073709551616",
    "1" * 30 + "." + "2" * 30, "1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16",
]

HUGE_TEXT = [
    "repeat('x', %d)" % MB,
    "repeat('\u00e9', %d)" % (MB // 2),
    "repeat('1', %d)" % MB,
    "repeat('1.', %d) || '1'" % (MB // 2),
    "'v1.' || repeat('A', %d)" % MB,
    "repeat('v1.', %d)" % (MB // 3),
    "repeat(' ', %d)" % MB,
    "repeat('''', %d)" % MB,
    "repeat('a,', %d)" % (MB // 2),
]

HUGE_SCRIPTS = [
    "'-- ' || repeat('x', %d)" % MB,
    "'SELECT ''' || repeat('x', %d) || ''''" % MB,
    "repeat('SELECT 1;', 20000)",
    "'SELECT ' || repeat('1+', 100000) || '1'",
    "repeat(';', %d)" % MB,
]

CLIENT_TEXT = [
    CLIENT_A, CLIENT_B, CLIENT_C, CLIENT_A.upper(), "{" + CLIENT_A + "}",
    CLIENT_A.replace("-", ""), "a000-0000-0000-4000-8000-0000-0000-000a",
    CLIENT_A[:-1], CLIENT_A + "a", "g" + CLIENT_A[1:], "{" + CLIENT_A,
    "00000000-0000-0000-0000-000000000000", "", " ", "1", "2", "3", "-1",
    "+1", "0", "9223372036854775807", "9223372036854775808",
    "-9223372036854775808", "-9223372036854775809", "2147483647",
    "2147483648", "-2147483649", "0x10", "1e3", " 1", "1 ", "01",
    "tenant-a", "tenant-b", "\u00fc-tenant", "v1.", "v1.fk1.x.1.y", "V1.x",
    "a" * 1024, "a" * 1025, "'; RESET dbcore.client_id; --", "\u0661",
]

CLOCKS = ["transaction", "statement", "clock", "", "Transaction", "CLOCK",
          "wall", "now", "clock_timestamp", " statement"]

KEY_IDS = ["fk1", "fk2", "nope", "", "k" * 64, "k" * 65, "FK1", "fk1 ",
           "fk-1_x", "\u00fc"]

INTERVALS = ["'5 minutes'", "'1 second'", "'0'", "'-1 second'", "'0.5 seconds'",
             "'1 hour'", "'1 hour 1 second'", "'7 days'", "'8 days'",
             "'1 month'", "'178000000 years'", "'-178000000 years'",
             "'1 microsecond'", "'1 day -86399 seconds'", "'-1 month 31 days'"]

BIGINTS = ["0", "1", "-1", "2", "3", "9223372036854775807",
           "(-9223372036854775807 - 1)", "2147483648", "42"]
INTEGERS = ["0", "1", "-1", "2", "3", "2147483647", "(-2147483647 - 1)", "42"]

UUIDS = ["'%s'" % u for u in CLIENT_UUIDS] + [
    "'00000000-0000-0000-0000-000000000000'",
    "'ffffffff-ffff-ffff-ffff-ffffffffffff'", "gen_random_uuid()"]

WRONG_TYPED = ["1.5::numeric", "'{}'::jsonb", "now()", "ROW(1, 'x')",
               "ARRAY[1, 2]", "'\\x00ff'::bytea", "42", "true",
               "'(1,2)'::point", "'a'::\"char\"", "NULL::int[]",
               "'1 day'::interval", "'pg_class'::regclass", "'x'::name",
               "''::text", "'%s'::uuid" % CLIENT_A, "42::int2",
               "'2000-01-01'::date", "'{1,2}'::int[]", "'x'::varchar"]

SIGNING_KEY_VALUES_BAD = [
    "", " ", ",", ",,,", "k", "k:", ":abc", "k:abc", "k:" + "A" * 40 + "=",
    "k1:x,k1:y", "kid with space:" + "A" * 44, "k" * 65 + ":" + "A" * 44,
    "\u00fc:" + "A" * 44, "k1:" + "A" * 43 + "=\u00fc", "k1:" + "A" * 400,
    "k1:" + "A" * 42, "k1:" + "A" * 44 + ",", ",k1:" + "A" * 44,
    "k1:" + "A" * 44 + ",k1:" + "B" * 44, "k1:" + "A" * 41 + "===",
    "k1:" + "A" * 43 + "B", "k1:" + "-_" * 22, "k1:" + "+/" * 22,
    "k1 : " + "A" * 44, "  k1:" + "A" * 44 + "  ,  k2:" + "B" * 44 + "  ",
]


class Tokens:
    """Client tokens minted the way the documentation describes, and broken
    in every way the documentation lists."""

    def __init__(self, rng):
        self.rng = rng
        self.secret1 = rng.randbytes(32)
        self.secret2 = rng.randbytes(48)
        self.keys_value = "fk1:%s,fk2:%s" % (
            base64.b64encode(self.secret1).decode("ascii"),
            base64.urlsafe_b64encode(self.secret2).decode("ascii").rstrip("="))

    def _sign(self, message, secret):
        mac = hmac.new(secret, message.encode("ascii"), hashlib.sha256).digest()
        return b64url(mac)

    def mint(self, client=None, kid="fk1", ttl=300, secret=None):
        if client is None:
            client = self.rng.choice(CLIENT_UUIDS + ("tenant-a", "1", "2"))
        if isinstance(client, str):
            client = client.encode("utf-8")
        if secret is None:
            secret = self.secret2 if kid == "fk2" else self.secret1
        message = "v1.%s.%s.%d" % (kid, b64url(client), int(time.time()) + ttl)
        return message + "." + self._sign(message, secret)

    def token(self):
        """A token, valid or broken in one way."""
        rng = self.rng
        kind = rng.randrange(24)
        if kind < 6:
            return self.mint(kid=rng.choice(["fk1", "fk2"]))
        if kind == 6:
            return self.mint(ttl=-10)                       # expired
        if kind == 7:
            return self.mint(ttl=10 ** 6)                   # too far ahead
        if kind == 8:
            return self.mint(kid="k9")                      # unknown key
        if kind == 9:
            t = self.mint()
            return t[:-1] + ("A" if t[-1] != "A" else "B")  # altered signature
        if kind == 10:
            return self.mint()[:-1]                         # 42-char signature
        if kind == 11:
            return self.mint() + "="                        # padded
        if kind == 12:
            return self.mint(client=b"")                    # empty client
        if kind == 13:
            return self.mint(client=b"\x00a")               # NUL in client
        if kind == 14:
            return self.mint(client=b"\xff\xfe")            # not UTF-8
        if kind == 15:
            return self.mint(client="x" * 900)              # too long
        if kind == 16:
            parts = self.mint().split(".")
            return ".".join(parts[:3] + ["1" * 19] + parts[4:])
        if kind == 17:
            parts = self.mint().split(".")
            return ".".join(parts[:3] + ["+" + parts[3]] + parts[4:])
        if kind == 18:
            return self.mint() + ".extra"
        if kind == 19:
            return ".".join(self.mint().split(".")[:4])
        if kind == 20:
            return "v1..." + "." * rng.randrange(3)
        if kind == 21:
            return self.mint(kid="k" * 65)
        if kind == 22:
            return "V1" + self.mint()[2:]
        return self.mint(secret=self.secret2)               # wrong secret
