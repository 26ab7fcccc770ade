#!/usr/bin/env bash
# tools/lib.sh: shared helpers for dbcore's test, demo and benchmark scripts.
#
# Source it from bash:   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
#   dbcore_install_deps          install missing Debian packages (apt-get)
#   dbcore_build_install         make && make install in the repo root
#   cluster_start NAME           start a throwaway PostgreSQL cluster, export
#                                PGHOST PGPORT PGUSER PGDATABASE and
#                                DBCORE_CLUSTER_{NAME,BASE,DATA,LOG}
#   cluster_stop                 stop it and remove its directory (idempotent)
#   cluster_trap                 stop the cluster on EXIT, INT and TERM
#   cluster_save_state FILE      remember the running cluster in FILE ...
#   cluster_load_state FILE      ... and get it back in another process
#   pg_bin PROGRAM               path of a PostgreSQL program (initdb, psql ...)
#   cluster_callgrind_start DIR  restart the cluster under valgrind --tool=callgrind
#   DBCORE_BENCH_CONF            postgresql.conf lines of the benchmarks' clusters
#
#   citus_cluster_start NAME [N] a Citus coordinator and N workers (default 2),
#                                all as postgres, dbcore preloaded after citus;
#                                exports PG* for the coordinator and
#                                DBCORE_CITUS_{BASE,NAME,COORD_PORT,WORKER_PORTS}
#   citus_add_worker [--no-register]  one more worker (w3 ...), citus_add_node
#   citus_psql NODE [ARGS]       psql on coord, w1, w2 ...
#   citus_node_port NODE         that node's port
#   citus_cluster_stop           stop every node, remove the directory
#   citus_cluster_trap           stop both kinds of cluster on EXIT, INT, TERM
#   citus_cluster_load DIR       take over a cluster another process started
#   (the command line for them: tools/citus-cluster.sh)
#
# Run directly, it offers two commands for clusters left behind on purpose:
#   bash tools/lib.sh stop BASEDIR     stop the cluster in BASEDIR, remove it
#   bash tools/lib.sh list             list the dbcore clusters in /tmp
#
# Settings (environment):
#   PG_CONFIG              pg_config to build and run with (default: PG 15's)
#   DBCORE_PORT_BASE       first port tried by cluster_start (default 54330)
#   DBCORE_CLUSTER_CONF    extra postgresql.conf lines for cluster_start
#   DBCORE_VERBOSE=1       show full make output
#   DBCORE_CITUS_PORT_BASE, DBCORE_CITUS_PORT_LAST  Citus node ports (56000-56999)
#   DBCORE_CITUS_CONF      extra postgresql.conf lines for every Citus node
#   DBCORE_CITUS_SIGNING_KEYS  dbcore.signing_keys of every node (default: a
#                          test key; empty: no strict mode)

# This file is sourced: it sets no shell options of its own beyond what the
# caller chose, but every function works under `set -euo pipefail`.

DBCORE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DBCORE_ROOT

DBCORE_DEB_PACKAGES=(
    postgresql-15
    postgresql-server-dev-15
    postgresql-15-pgtap
    libtap-parser-sourcehandler-pgtap-perl
    postgresql-contrib-15
    libpq-dev
    # hardening tests: fuzzing, memory safety, poolers, packaging, a Node.js client
    sqlsmith
    pgbouncer
    valgrind
    debhelper
    dpkg-dev
    fakeroot
    postgresql-server-dev-all
    nodejs
)

# --------------------------------------------------------------------------
# Messages
# --------------------------------------------------------------------------

if [[ -t 1 && -z "${NO_COLOR:-}" ]]; then
    _DBCORE_B=$'\033[1m' _DBCORE_R=$'\033[31m' _DBCORE_G=$'\033[32m'
    _DBCORE_Y=$'\033[33m' _DBCORE_0=$'\033[0m'
else
    _DBCORE_B='' _DBCORE_R='' _DBCORE_G='' _DBCORE_Y='' _DBCORE_0=''
fi

say()  { printf '%s==>%s %s\n' "$_DBCORE_B" "$_DBCORE_0" "$*"; }
ok()   { printf '%s ok%s  %s\n' "$_DBCORE_G" "$_DBCORE_0" "$*"; }
warn() { printf '%swarning:%s %s\n' "$_DBCORE_Y" "$_DBCORE_0" "$*" >&2; }
die()  { printf '%serror:%s %s\n' "$_DBCORE_R" "$_DBCORE_0" "$*" >&2; exit 1; }

# Run a command as root: directly when we are root, else through sudo.
as_root() {
    if [[ $EUID -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root for: $* (install sudo or run as root)"
    fi
}

# --------------------------------------------------------------------------
# PostgreSQL programs
# --------------------------------------------------------------------------

# The pg_config to use: $PG_CONFIG, else PostgreSQL 15's, else the one on PATH.
dbcore_pg_config() {
    if [[ -n "${PG_CONFIG:-}" ]]; then
        printf '%s\n' "$PG_CONFIG"
    elif [[ -x /usr/lib/postgresql/15/bin/pg_config ]]; then
        printf '%s\n' /usr/lib/postgresql/15/bin/pg_config
    else
        command -v pg_config || die "pg_config not found (install postgresql-server-dev-15 or set PG_CONFIG)"
    fi
}

# Directory of the server binaries (initdb, pg_ctl, postgres, psql ...).
pg_bindir() {
    if [[ -z "${_DBCORE_PG_BINDIR:-}" ]]; then
        local cfg
        cfg="$(dbcore_pg_config)"
        _DBCORE_PG_BINDIR="$("$cfg" --bindir)" || die "$cfg --bindir failed"
    fi
    printf '%s\n' "$_DBCORE_PG_BINDIR"
}

# pg_bin PROGRAM: full path of a PostgreSQL program.
pg_bin() {
    local dir
    dir="$(pg_bindir)"
    [[ -x "$dir/$1" ]] || die "$dir/$1 not found"
    printf '%s\n' "$dir/$1"
}

# --------------------------------------------------------------------------
# Dependencies and build
# --------------------------------------------------------------------------

# True when the package, or an installed package that Provides it, is in.
_dbcore_pkg_present() {
    local status
    status="$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null || true)"
    [[ "$status" == ii* ]] && return 0
    # Virtual packages (postgresql-contrib-15 is provided by postgresql-15).
    dpkg-query -W -f='${db:Status-Abbrev}|${Provides}\n' 2>/dev/null |
        awk -F'|' -v want="$1" '
            $1 ~ /^ii/ {
                n = split($2, p, /, */)
                for (i = 1; i <= n; i++) { sub(/ .*/, "", p[i]); if (p[i] == want) found = 1 }
            }
            END { exit !found }'
}

dbcore_install_deps() {
    if ! command -v dpkg-query >/dev/null 2>&1; then
        warn "dpkg-query not found: not a Debian system, skipping package installation"
        return 0
    fi
    local missing=() p
    for p in "${DBCORE_DEB_PACKAGES[@]}"; do
        _dbcore_pkg_present "$p" || missing+=("$p")
    done
    if ! command -v gcc >/dev/null 2>&1 || ! command -v make >/dev/null 2>&1; then
        missing+=(build-essential)
    fi
    # npm: bundled with some Node.js builds, a package of its own in Debian's.
    if ! command -v npm >/dev/null 2>&1; then
        missing+=(npm)
    fi
    if [[ ${#missing[@]} -eq 0 ]]; then
        ok "packages present"
        return 0
    fi
    say "installing packages: ${missing[*]}"
    local log
    log="$(mktemp "${TMPDIR:-/tmp}/dbcore-apt.XXXXXX")"
    if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >"$log" 2>&1 ||
       ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
            -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
            "${missing[@]}" >>"$log" 2>&1 </dev/null; then
        tail -n 40 "$log" >&2
        rm -f "$log"
        die "apt-get failed (see above)"
    fi
    rm -f "$log"
    ok "installed ${missing[*]}"
}

# Run "$@" with its output in a log; print the log's tail if it fails.
_dbcore_run_logged() {
    local what="$1"; shift
    if [[ "${DBCORE_VERBOSE:-0}" == 1 ]]; then
        "$@" || die "$what failed"
        return 0
    fi
    local log rc=0
    log="$(mktemp "${TMPDIR:-/tmp}/dbcore-build.XXXXXX")"
    "$@" >"$log" 2>&1 </dev/null || rc=$?
    if [[ $rc -ne 0 ]]; then
        printf '%s\n' "---- last lines of: $* ----" >&2
        tail -n 60 "$log" >&2
        printf '%s\n' "----" >&2
        rm -f "$log"
        die "$what failed (exit $rc)"
    fi
    # Compiler warnings are worth seeing even when the build passes.
    grep -E 'warning:' "$log" >&2 || true
    rm -f "$log"
}

dbcore_build_install() {
    local cfg jobs
    cfg="$(dbcore_pg_config)"
    jobs="$(nproc 2>/dev/null || echo 2)"
    say "building dbcore with $cfg"
    # Objects built against another server must not be reused (PGXS does not
    # notice a change of PG_CONFIG).
    _dbcore_run_logged "make clean" make -C "$DBCORE_ROOT" clean PG_CONFIG="$cfg"
    _dbcore_run_logged "make" make -C "$DBCORE_ROOT" -j"$jobs" PG_CONFIG="$cfg"
    _dbcore_run_logged "make install" as_root make -C "$DBCORE_ROOT" install PG_CONFIG="$cfg"
    ok "built and installed into $("$cfg" --pkglibdir) and $("$cfg" --sharedir)/extension"
}

# --------------------------------------------------------------------------
# Throwaway clusters
# --------------------------------------------------------------------------

# Run a PostgreSQL server program as the cluster's OS user: postgres when we
# are root (the server refuses to run as root), else ourselves.  It runs in
# the cluster directory so a cwd the postgres user can't read is no problem.
_dbcore_as_pg() {
    if [[ $EUID -eq 0 ]]; then
        (cd "${DBCORE_CLUSTER_BASE:-/}" && runuser -u postgres -- "$@")
    else
        (cd "${DBCORE_CLUSTER_BASE:-/}" && "$@")
    fi
}

# True when something listens on TCP port $1 on this machine (any address).
_dbcore_port_busy() {
    local port="$1"
    if command -v ss >/dev/null 2>&1; then
        [[ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]] && return 0
    else
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    fi
    # Unix sockets of other clusters using the same port number.
    local s
    for s in /tmp/.s.PGSQL."$port" /var/run/postgresql/.s.PGSQL."$port" /tmp/dbcore-*/.s.PGSQL."$port"; do
        [[ -e "$s" || -e "$s.lock" ]] && return 0
    done
    return 1
}

_dbcore_free_port() {
    local port="${1:-${DBCORE_PORT_BASE:-54330}}" last
    last=$((port + 200))
    while [[ $port -lt $last ]]; do
        if ! _dbcore_port_busy "$port"; then
            printf '%s\n' "$port"
            return 0
        fi
        port=$((port + 1))
    done
    die "no free port between ${DBCORE_PORT_BASE:-54330} and $last"
}

# cluster_start NAME: initdb + start a private cluster, export its settings.
cluster_start() {
    local name="${1:-test}"
    [[ "$name" =~ ^[A-Za-z0-9_.-]+$ ]] || die "cluster_start: bad name '$name'"
    if [[ -n "${DBCORE_CLUSTER_BASE:-}" && -d "${DBCORE_CLUSTER_BASE}" ]]; then
        die "cluster_start: a cluster is already running in $DBCORE_CLUSTER_BASE (cluster_stop first)"
    fi

    local bindir tmp
    bindir="$(pg_bindir)"
    [[ -x "$bindir/initdb" && -x "$bindir/pg_ctl" ]] ||
        die "initdb/pg_ctl not found in $bindir (install postgresql-15)"
    # As root the postgres user must be able to reach the directory, and
    # socket paths must stay short (108 bytes): use /tmp unless TMPDIR is
    # short and we run as ourselves.
    tmp=/tmp
    if [[ $EUID -ne 0 && -n "${TMPDIR:-}" && ${#TMPDIR} -le 60 && -d "$TMPDIR" ]]; then
        tmp="${TMPDIR%/}"
    fi

    DBCORE_CLUSTER_NAME="$name"
    DBCORE_CLUSTER_BASE="$(mktemp -d "$tmp/dbcore-$name.XXXXXX")" || die "mktemp failed"
    DBCORE_CLUSTER_DATA="$DBCORE_CLUSTER_BASE/data"
    DBCORE_CLUSTER_LOG="$DBCORE_CLUSTER_BASE/postgres.log"
    export DBCORE_CLUSTER_NAME DBCORE_CLUSTER_BASE DBCORE_CLUSTER_DATA DBCORE_CLUSTER_LOG
    if [[ $EUID -eq 0 ]]; then
        id postgres >/dev/null 2>&1 || die "running as root needs the 'postgres' OS user (install postgresql-15)"
        chown postgres: "$DBCORE_CLUSTER_BASE"
    fi
    chmod 700 "$DBCORE_CLUSTER_BASE"

    say "starting throwaway cluster '$name' in $DBCORE_CLUSTER_BASE"
    local initlog="$DBCORE_CLUSTER_BASE/initdb.log" locale=C.UTF-8
    if ! locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then
        locale=C
    fi
    if ! _dbcore_as_pg "$bindir/initdb" -D "$DBCORE_CLUSTER_DATA" -U postgres --auth=trust \
            -E UTF8 --locale="$locale" --no-sync >"$initlog" 2>&1; then
        if [[ "$locale" != C ]]; then
            warn "initdb with locale $locale failed, retrying with C"
            rm -rf "${DBCORE_CLUSTER_DATA:?}"
            locale=C
            _dbcore_as_pg "$bindir/initdb" -D "$DBCORE_CLUSTER_DATA" -U postgres --auth=trust \
                -E UTF8 --locale=C --no-sync >"$initlog" 2>&1 || { tail -n 30 "$initlog" >&2; cluster_stop; die "initdb failed"; }
        else
            tail -n 30 "$initlog" >&2
            cluster_stop
            die "initdb failed"
        fi
    fi

    local port attempt
    port="$(_dbcore_free_port)"
    for attempt in 1 2 3 4 5; do
        cat >>"$DBCORE_CLUSTER_DATA/postgresql.conf" <<EOF

# ---- dbcore throwaway cluster (tools/lib.sh), attempt $attempt ----
port = $port
listen_addresses = ''
unix_socket_directories = '$DBCORE_CLUSTER_BASE'
unix_socket_permissions = 0777
max_connections = 100
max_prepared_transactions = 10
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = minimal
max_wal_senders = 0
checkpoint_timeout = 30min
max_wal_size = 2GB
logging_collector = off
log_min_messages = warning
log_line_prefix = '%m [%p] %q%u@%d '
datestyle = 'iso, ymd'
timezone = 'UTC'
${DBCORE_CLUSTER_CONF:-}
EOF
        if _dbcore_as_pg "$bindir/pg_ctl" -D "$DBCORE_CLUSTER_DATA" -l "$DBCORE_CLUSTER_LOG" \
                -w -t 60 start >/dev/null 2>&1; then
            break
        fi
        # Lost a race for the port?  Try the next one; else give up.
        if [[ $attempt -lt 5 ]] && grep -qE 'could not (bind|create lock file)|already in use|lock file .* already exists' \
                "$DBCORE_CLUSTER_LOG" 2>/dev/null; then
            warn "port $port taken, trying another"
            port="$(_dbcore_free_port $((port + 1)))"
            continue
        fi
        printf '%s\n' "---- last lines of $DBCORE_CLUSTER_LOG ----" >&2
        tail -n 40 "$DBCORE_CLUSTER_LOG" >&2 2>/dev/null || true
        printf '%s\n' "----" >&2
        cluster_stop
        die "could not start the '$name' cluster"
    done

    export PGHOST="$DBCORE_CLUSTER_BASE" PGPORT="$port" PGUSER=postgres PGDATABASE=postgres
    unset PGPASSWORD PGSERVICE PGSSLMODE PGOPTIONS PGHOSTADDR
    ok "cluster '$name' up: PGHOST=$PGHOST PGPORT=$PGPORT (log: $DBCORE_CLUSTER_LOG)"
}

# DBCORE_BENCH_CONF: the postgresql.conf lines the benchmarks (bench/*.sh)
# give their clusters, in DBCORE_CLUSTER_CONF with their own: WAL is still
# generated, as in production, but never waited for (cluster_start already
# turns fsync and full_page_writes off and sets wal_level = minimal);
# everything fits in shared_buffers; no checkpoint or autovacuum starts on
# its own; no parallel workers split the work differently per variant.
DBCORE_BENCH_CONF="
shared_buffers = 1GB
wal_buffers = 64MB
max_wal_size = 20GB
min_wal_size = 1GB
checkpoint_timeout = 1h
synchronous_commit = off
autovacuum = off
jit = off
max_parallel_workers_per_gather = 0
bgwriter_lru_maxpages = 0
"

# cluster_callgrind_start DIR: restart the cluster cluster_start made under
# valgrind --tool=callgrind, which follows the postmaster's forks: every
# process writes DIR/cg.PID when it exits.  Stop it with pg_ctl as usual
# (cluster_stop does).
cluster_callgrind_start() {
    local dir="$1" i
    mkdir -p "$dir"
    [[ $EUID -ne 0 ]] || chown postgres: "$dir"
    _dbcore_as_pg "$(pg_bin pg_ctl)" -D "$DBCORE_CLUSTER_DATA" -m fast -w -t 60 stop >/dev/null
    _dbcore_as_pg valgrind --tool=callgrind --trace-children=yes \
        --callgrind-out-file="$dir/cg.%p" \
        "$(pg_bin postgres)" -D "$DBCORE_CLUSTER_DATA" >"$dir/postmaster.log" 2>&1 &
    for ((i = 0; i < 240; i++)); do
        "$(pg_bin pg_isready)" -q && return 0
        sleep 0.5
    done
    tail -n 20 "$dir/postmaster.log" >&2
    die "the cluster did not come up under callgrind"
}

# cluster_stop: stop the cluster cluster_start made and remove its directory.
# Safe to call twice, and after a half-finished cluster_start.
cluster_stop() {
    local base="${DBCORE_CLUSTER_BASE:-}"
    [[ -n "$base" ]] || return 0
    _dbcore_stop_dir "$base"
    unset DBCORE_CLUSTER_NAME DBCORE_CLUSTER_BASE DBCORE_CLUSTER_DATA DBCORE_CLUSTER_LOG
    unset PGHOST PGPORT PGDATABASE
}

# _dbcore_stop_dir BASEDIR: stop a cluster whose data dir is BASEDIR/data and
# remove BASEDIR.  Refuses directories that don't look like ours.
_dbcore_stop_dir() {
    local base="$1" bindir data
    [[ -d "$base" ]] || return 0
    case "$(basename "$base")" in
        dbcore-*.*) ;;
        *) warn "not removing $base: not a dbcore cluster directory"; return 1 ;;
    esac
    data="$base/data"
    if [[ -f "$data/postmaster.pid" ]]; then
        bindir="$(pg_bindir)"
        if ! DBCORE_CLUSTER_BASE="$base" _dbcore_as_pg "$bindir/pg_ctl" -D "$data" -m fast -w -t 30 stop >/dev/null 2>&1; then
            DBCORE_CLUSTER_BASE="$base" _dbcore_as_pg "$bindir/pg_ctl" -D "$data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
        fi
        # Last resort: the postmaster's pid, checked to still be a postgres.
        if [[ -f "$data/postmaster.pid" ]]; then
            local pid
            pid="$(head -n 1 "$data/postmaster.pid" 2>/dev/null || true)"
            if [[ "$pid" =~ ^[0-9]+$ ]] && grep -q postgres "/proc/$pid/comm" 2>/dev/null; then
                kill -KILL "$pid" 2>/dev/null || true
                sleep 1
            fi
        fi
    fi
    rm -rf "${base:?}"
}

# --------------------------------------------------------------------------
# Traps
# --------------------------------------------------------------------------

# Functions to call (in order) before the cluster is stopped at exit.
DBCORE_EXIT_HOOKS=()
# Set to 1 to leave the cluster running on a normal exit (not on INT/TERM).
DBCORE_KEEP_CLUSTER="${DBCORE_KEEP_CLUSTER:-0}"

_dbcore_on_exit() {
    local rc=$? hook
    trap - EXIT
    # Nothing a hook does may keep the cluster from being stopped: an
    # unbound variable under set -u would end the shell here.
    set +eu
    for hook in "${DBCORE_EXIT_HOOKS[@]}"; do
        "$hook"
    done
    if [[ "$DBCORE_KEEP_CLUSTER" == 1 ]]; then
        :
    else
        cluster_stop
        citus_cluster_stop
    fi
    exit "$rc"
}

_dbcore_on_signal() {
    local sig="$1" code="$2"
    trap - INT TERM
    printf '\n%s\n' "interrupted (SIG$sig): stopping the cluster" >&2
    DBCORE_KEEP_CLUSTER=0
    exit "$code"     # runs _dbcore_on_exit
}

# cluster_trap: always stop the cluster when the script ends: on exit, on
# Ctrl-C (exit 130) and on SIGTERM (exit 143).
cluster_trap() {
    trap _dbcore_on_exit EXIT
    trap '_dbcore_on_signal INT 130' INT
    trap '_dbcore_on_signal TERM 143' TERM
    trap '_dbcore_on_signal HUP 129' HUP
}

# --------------------------------------------------------------------------
# Handing a cluster over to another process (tools/demo.sh)
# --------------------------------------------------------------------------

cluster_save_state() {
    local file="$1"
    {
        printf 'DBCORE_CLUSTER_NAME=%s\n' "$DBCORE_CLUSTER_NAME"
        printf 'DBCORE_CLUSTER_BASE=%s\n' "$DBCORE_CLUSTER_BASE"
        printf 'DBCORE_CLUSTER_DATA=%s\n' "$DBCORE_CLUSTER_DATA"
        printf 'DBCORE_CLUSTER_LOG=%s\n' "$DBCORE_CLUSTER_LOG"
        printf 'PGHOST=%s\n' "$PGHOST"
        printf 'PGPORT=%s\n' "$PGPORT"
        printf 'PGUSER=%s\n' "$PGUSER"
        printf 'PG_CONFIG=%s\n' "$(dbcore_pg_config)"
    } >"$file"
}

# cluster_load_state FILE: read what cluster_save_state wrote (parsed, not
# sourced) and export it.  Returns 1 when FILE is missing.
cluster_load_state() {
    local file="$1" key value
    [[ -f "$file" ]] || return 1
    while IFS='=' read -r key value; do
        case "$key" in
            DBCORE_CLUSTER_NAME|DBCORE_CLUSTER_BASE|DBCORE_CLUSTER_DATA|DBCORE_CLUSTER_LOG|PGHOST|PGPORT|PGUSER|PG_CONFIG)
                printf -v "$key" '%s' "$value"
                export "${key?}"
                ;;
        esac
    done <"$file"
    export PGDATABASE=postgres
}

# cluster_running: true when the current cluster's postmaster answers.
cluster_running() {
    [[ -n "${DBCORE_CLUSTER_DATA:-}" && -f "$DBCORE_CLUSTER_DATA/postmaster.pid" ]] || return 1
    "$(pg_bin pg_isready)" -q -h "$PGHOST" -p "$PGPORT" >/dev/null 2>&1
}

# dbcore_parse_pg_prove LOG: pg_prove's (TAP::Harness) summary in LOG ->
# "passed failed", or nothing when there is none.  Tests that were
# planned but never ran (the file died half-way) count as failed.
dbcore_parse_pg_prove() {
    awk '
        /^Files=[0-9]+, Tests=[0-9]+/ { split($2, a, "="); sub(/,$/, "", a[2]); ran = a[2]; seen = 1 }
        /\(Wstat: [0-9]+.* Tests: [0-9]+ Failed: [0-9]+\)/ {
            match($0, /Failed: [0-9]+/); failed_run += substr($0, RSTART + 8, RLENGTH - 8) }
        /Failed [0-9]+\/[0-9]+ subtests/ {
            match($0, /Failed [0-9]+\//); failed_all += substr($0, RSTART + 7, RLENGTH - 8) }
        /^Result: FAIL/ { fail = 1 }
        END {
            if (!seen) exit
            p = ran - failed_run; if (p < 0) p = 0
            f = failed_all > failed_run ? failed_all : failed_run
            # A failing file without failed assertions (bad exit status, no
            # plan) still counts as one failure.
            if (fail && f == 0) f = 1
            print p + 0, f + 0
        }' "$1"
}


# --------------------------------------------------------------------------
# Citus clusters: a coordinator and workers on this machine
# --------------------------------------------------------------------------
#
# A Citus cluster made by citus_cluster_start lives in one directory,
# /tmp/dbcore-citus-NAME.XXXXXX, with a subdirectory per node (coord, w1,
# w2, ...): its data directory, its Unix socket and its log.  Every node runs
# as the postgres OS user (when we are root), listens on 127.0.0.1 only, on a
# port of DBCORE_CITUS_PORT_BASE..DBCORE_CITUS_PORT_LAST (56000-56999), with
# shared_preload_libraries = 'citus,dbcore' (Citus must be first) and the same
# dbcore.signing_keys.  The nodes know each other as 127.0.0.1:PORT.  The
# file nodes in the directory lists "name port" per node, in order.
#
# PG_CONFIG must name the pg_config of a server with Citus and dbcore
# installed (tools/build-server.sh citus prints its prefix); nothing else is
# assumed.

# The test key of every node: key id "citus_test", 32 bytes in base64.
DBCORE_CITUS_TEST_KEYS='citus_test:ZGJjb3JlLWNpdHVzLXRlc3Qtc2lnbmluZy1rZXktMzI='

# The Citus server's bin directory, from $PG_CONFIG only.
_citus_bindir() {
    [[ -n "${PG_CONFIG:-}" ]] || die "PG_CONFIG is not set: point it at the Citus server's pg_config (bash tools/build-server.sh citus prints its prefix)"
    [[ -x "$PG_CONFIG" ]] || die "PG_CONFIG=$PG_CONFIG is not an executable"
    "$PG_CONFIG" --bindir || die "$PG_CONFIG --bindir failed"
}

# Refuse a server without Citus or dbcore: the nodes preload both.
_citus_check_server() {
    local lib ext
    lib="$("$PG_CONFIG" --pkglibdir)" || die "$PG_CONFIG --pkglibdir failed"
    ext="$("$PG_CONFIG" --sharedir)/extension"
    [[ -f "$lib/citus.so" && -f "$ext/citus.control" ]] ||
        die "Citus is not installed in the server of $PG_CONFIG (use bash tools/build-server.sh citus)"
    [[ -f "$lib/dbcore.so" && -f "$ext/dbcore.control" ]] ||
        die "dbcore is not installed in the server of $PG_CONFIG (make install PG_CONFIG=$PG_CONFIG)"
}

# Run a server program as the cluster's OS user, in directory $1.
_citus_as_pg() {
    local dir="$1"; shift
    if [[ $EUID -eq 0 ]]; then
        (cd "$dir" && runuser -u postgres -- "$@")
    else
        (cd "$dir" && "$@")
    fi
}

# _citus_free_port: a port of the Citus range that nothing listens on, and
# that no node of this cluster has; the search starts at a random place so
# that clusters started at the same time rarely pick the same one.
_citus_free_port() {
    local first="${DBCORE_CITUS_PORT_BASE:-56000}" last="${DBCORE_CITUS_PORT_LAST:-56999}"
    local span=$((last - first + 1)) i port
    [[ $span -gt 0 ]] || die "empty port range $first-$last"
    local start=$((RANDOM % span))
    for ((i = 0; i < span; i++)); do
        port=$((first + (start + i) % span))
        if [[ -n "${DBCORE_CITUS_BASE:-}" && -f "$DBCORE_CITUS_BASE/nodes" ]] &&
           awk -v p="$port" '$2 == p { found = 1 } END { exit !found }' "$DBCORE_CITUS_BASE/nodes"; then
            continue
        fi
        _dbcore_port_busy "$port" && continue
        [[ -e "/tmp/.s.PGSQL.$port.lock" ]] && continue
        printf '%s\n' "$port"
        return 0
    done
    die "no free port between $first and $last"
}

# citus_node_port NODE: the port of a node (coord, w1, w2, ...).
citus_node_port() {
    [[ -n "${DBCORE_CITUS_BASE:-}" && -f "$DBCORE_CITUS_BASE/nodes" ]] || die "no Citus cluster (citus_cluster_start first)"
    awk -v n="$1" '$1 == n { print $2; found = 1 } END { exit !found }' "$DBCORE_CITUS_BASE/nodes" ||
        die "no node '$1' in $DBCORE_CITUS_BASE"
}

# citus_nodes: the node names, coordinator first.
citus_nodes() {
    [[ -n "${DBCORE_CITUS_BASE:-}" && -f "$DBCORE_CITUS_BASE/nodes" ]] || return 0
    awk '{ print $1 }' "$DBCORE_CITUS_BASE/nodes"
}

# citus_psql NODE [psql arguments]: psql as postgres on a node's database.
citus_psql() {
    local node="$1" port bindir
    shift
    port="$(citus_node_port "$node")"
    bindir="$(_citus_bindir)"
    "$bindir/psql" -X -q -h "$DBCORE_CITUS_BASE/$node" -p "$port" -U postgres \
        -d "${DBCORE_CITUS_DB:-postgres}" "$@"
}

# _citus_node_start NODE: initdb and start one node in $DBCORE_CITUS_BASE/NODE
# with CREATE EXTENSION citus, and add it to the nodes file.
_citus_node_start() {
    local node="$1" bindir dir data log port attempt locale=C.UTF-8
    bindir="$(_citus_bindir)"
    dir="$DBCORE_CITUS_BASE/$node"
    data="$dir/data"
    log="$dir/postgres.log"
    [[ ! -e "$dir" ]] || die "node directory $dir exists already"
    mkdir -m 700 "$dir"
    if [[ $EUID -eq 0 ]]; then
        chown postgres: "$dir"
    fi
    if ! locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then
        locale=C
    fi
    _citus_as_pg "$dir" "$bindir/initdb" -D "$data" -U postgres --auth=trust \
        -E UTF8 --locale="$locale" --no-sync >"$dir/initdb.log" 2>&1 ||
        { tail -n 30 "$dir/initdb.log" >&2; return 1; }

    # Servers that vet logical decoding plugins (output_plugin_libraries,
    # PostgreSQL 18.6) must accept Citus's own: shard splits decode with it.
    local plugins=''
    if grep -q '^#*output_plugin_libraries' "$data/postgresql.conf"; then
        plugins="output_plugin_libraries = 'pgoutput, test_decoding, citus'"
    fi
    port="$(_citus_free_port)"
    for attempt in 1 2 3 4 5; do
        cat >>"$data/postgresql.conf" <<CONF

# ---- dbcore Citus cluster (tools/lib.sh), node $node, attempt $attempt ----
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
unix_socket_permissions = 0777
shared_preload_libraries = 'citus,dbcore'
max_connections = 150
max_prepared_transactions = 100
max_worker_processes = 32
wal_level = logical
max_wal_senders = 20
max_replication_slots = 20
$plugins
fsync = off
synchronous_commit = off
full_page_writes = off
checkpoint_timeout = 30min
max_wal_size = 2GB
logging_collector = off
log_min_messages = warning
log_line_prefix = '%m [%p] %q%u@%d '
datestyle = 'iso, ymd'
timezone = 'UTC'
citus.node_conninfo = 'sslmode=disable'
citus.local_hostname = '127.0.0.1'
dbcore.signing_keys = '${DBCORE_CITUS_SIGNING_KEYS-$DBCORE_CITUS_TEST_KEYS}'
${DBCORE_CITUS_CONF:-}
CONF
        if _citus_as_pg "$dir" "$bindir/pg_ctl" -D "$data" -l "$log" -w -t 60 start >/dev/null 2>&1; then
            break
        fi
        # Lost a race for the port?  Try another; else give up.
        if [[ $attempt -lt 5 ]] && grep -qE 'could not (bind|create lock file)|already in use|lock file .* already exists' \
                "$log" 2>/dev/null; then
            warn "node $node: port $port taken, trying another"
            port="$(_citus_free_port)"
            continue
        fi
        printf '%s\n' "---- last lines of $log ----" >&2
        tail -n 40 "$log" >&2 2>/dev/null || true
        printf '%s\n' "----" >&2
        return 1
    done
    printf '%s %s\n' "$node" "$port" >>"$DBCORE_CITUS_BASE/nodes"
    citus_psql "$node" -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION citus' >/dev/null ||
        { tail -n 20 "$log" >&2; return 1; }
}

# _citus_export: the environment of the running cluster (PG* = coordinator).
_citus_export() {
    local ports=() node
    DBCORE_CITUS_COORD_PORT="$(citus_node_port coord)"
    for node in $(citus_nodes); do
        [[ "$node" == coord ]] || ports+=("$(citus_node_port "$node")")
    done
    DBCORE_CITUS_WORKER_PORTS="${ports[*]}"
    export DBCORE_CITUS_BASE DBCORE_CITUS_NAME DBCORE_CITUS_COORD_PORT DBCORE_CITUS_WORKER_PORTS
    export PGHOST="$DBCORE_CITUS_BASE/coord" PGPORT="$DBCORE_CITUS_COORD_PORT" PGUSER=postgres
    export PGDATABASE="${DBCORE_CITUS_DB:-postgres}"
    unset PGPASSWORD PGSERVICE PGSSLMODE PGOPTIONS PGHOSTADDR
}

# citus_cluster_start NAME [WORKERS]: a coordinator and WORKERS workers
# (default 2), each with CREATE EXTENSION citus, the workers registered with
# citus_add_node.  Exports DBCORE_CITUS_{BASE,NAME,COORD_PORT,WORKER_PORTS}
# and PGHOST PGPORT PGUSER PGDATABASE for the coordinator.  On failure,
# whatever was started is stopped and removed.
citus_cluster_start() {
    local name="${1:-citus}" workers="${2:-2}" i
    [[ "$name" =~ ^[A-Za-z0-9_.-]{1,24}$ ]] || die "citus_cluster_start: bad name '$name'"
    [[ "$workers" =~ ^[0-9]+$ && $workers -le 8 ]] || die "citus_cluster_start: bad worker count '$workers'"
    if [[ -n "${DBCORE_CITUS_BASE:-}" && -d "$DBCORE_CITUS_BASE" ]]; then
        die "citus_cluster_start: a Citus cluster is already running in $DBCORE_CITUS_BASE (citus_cluster_stop first)"
    fi
    _citus_bindir >/dev/null
    _citus_check_server
    if [[ $EUID -eq 0 ]]; then
        id postgres >/dev/null 2>&1 || die "running as root needs the 'postgres' OS user"
    fi
    DBCORE_CITUS_NAME="$name"
    DBCORE_CITUS_BASE="$(mktemp -d /tmp/dbcore-citus-"$name".XXXXXX)" || die "mktemp failed"
    export DBCORE_CITUS_NAME DBCORE_CITUS_BASE
    if [[ $EUID -eq 0 ]]; then
        chown postgres: "$DBCORE_CITUS_BASE"
    fi
    chmod 711 "$DBCORE_CITUS_BASE"
    : >"$DBCORE_CITUS_BASE/nodes"
    say "starting Citus cluster '$name' (coordinator + $workers workers) in $DBCORE_CITUS_BASE"

    if ! _citus_node_start coord; then
        citus_cluster_stop
        die "could not start the coordinator of '$name'"
    fi
    if ! citus_psql coord -v ON_ERROR_STOP=1 \
            -c "SELECT citus_set_coordinator_host('127.0.0.1', $(citus_node_port coord))" >/dev/null; then
        citus_cluster_stop
        die "citus_set_coordinator_host failed"
    fi
    for ((i = 1; i <= workers; i++)); do
        if ! _citus_node_start "w$i" || ! _citus_register "w$i"; then
            citus_cluster_stop
            die "could not start worker w$i of '$name'"
        fi
    done
    _citus_export
    ok "Citus cluster '$name' up: coordinator 127.0.0.1:$DBCORE_CITUS_COORD_PORT, workers ${DBCORE_CITUS_WORKER_PORTS:-none} (PGHOST=$PGHOST)"
}

# _citus_register NODE: citus_add_node on the coordinator.
_citus_register() {
    citus_psql coord -v ON_ERROR_STOP=1 \
        -c "SELECT citus_add_node('127.0.0.1', $(citus_node_port "$1"))" >/dev/null
}

# citus_add_worker [--no-register]: start one more worker (w3, w4, ...) and,
# unless --no-register, add it with citus_add_node (which copies the
# distributed objects, dbcore among them, to it; shards move only with a
# rebalance).  Prints the new node's name.
citus_add_worker() {
    local register=1 n node
    [[ "${1:-}" == --no-register ]] && register=0
    [[ -n "${DBCORE_CITUS_BASE:-}" && -d "$DBCORE_CITUS_BASE" ]] || die "no Citus cluster (citus_cluster_start first)"
    n=1
    while [[ -e "$DBCORE_CITUS_BASE/w$n" ]]; do
        n=$((n + 1))
    done
    node="w$n"
    _citus_node_start "$node" || die "could not start worker $node"
    if [[ $register == 1 ]]; then
        _citus_register "$node" || die "citus_add_node of $node failed"
    fi
    _citus_export
    ok "worker $node up on 127.0.0.1:$(citus_node_port "$node")$([[ $register == 1 ]] && echo ', registered')" >&2
    printf '%s\n' "$node"
}

# _citus_stop_dir BASEDIR: stop every node in BASEDIR and remove it.
# Refuses directories that don't look like a Citus cluster of ours.
_citus_stop_dir() {
    local base="$1" bindir="" d pid
    [[ -d "$base" ]] || return 0
    case "$(basename "$base")" in
        dbcore-citus-*.*) ;;
        *) warn "not removing $base: not a dbcore Citus cluster directory"; return 1 ;;
    esac
    if [[ -n "${PG_CONFIG:-}" && -x "${PG_CONFIG:-}" ]]; then
        bindir="$("$PG_CONFIG" --bindir 2>/dev/null || true)"
    fi
    for d in "$base"/*/; do
        d="${d%/}"
        [[ -f "$d/data/postmaster.pid" ]] || continue
        if [[ -n "$bindir" && -x "$bindir/pg_ctl" ]]; then
            if ! _citus_as_pg "$d" "$bindir/pg_ctl" -D "$d/data" -m fast -w -t 30 stop >/dev/null 2>&1; then
                _citus_as_pg "$d" "$bindir/pg_ctl" -D "$d/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
            fi
        fi
        # No pg_ctl, or it failed: the postmaster's pid, checked to be a postgres.
        if [[ -f "$d/data/postmaster.pid" ]]; then
            pid="$(head -n 1 "$d/data/postmaster.pid" 2>/dev/null || true)"
            if [[ "$pid" =~ ^[0-9]+$ ]] && grep -q postgres "/proc/$pid/comm" 2>/dev/null; then
                kill -QUIT "$pid" 2>/dev/null || true
                sleep 2
                kill -KILL "$pid" 2>/dev/null || true
            fi
        fi
    done
    rm -rf "${base:?}"
}

# citus_cluster_stop: stop every node of the cluster and remove its
# directory.  Safe to call twice, and after a half-finished start.
citus_cluster_stop() {
    local base="${DBCORE_CITUS_BASE:-}"
    [[ -n "$base" ]] || return 0
    _citus_stop_dir "$base"
    unset DBCORE_CITUS_NAME DBCORE_CITUS_BASE DBCORE_CITUS_COORD_PORT DBCORE_CITUS_WORKER_PORTS
    if [[ "${PGHOST:-}" == "$base"/* ]]; then
        unset PGHOST PGPORT PGDATABASE
    fi
}

# citus_cluster_load BASEDIR: take over a running cluster (another process
# started it): exports as citus_cluster_start does.
citus_cluster_load() {
    local base="${1%/}"
    [[ -f "$base/nodes" ]] || die "$base is not a running Citus cluster"
    DBCORE_CITUS_BASE="$base"
    DBCORE_CITUS_NAME="$(basename "$base" | sed -E 's/^dbcore-citus-(.*)\.[^.]*$/\1/')"
    _citus_export
}

# citus_cluster_trap: stop the Citus cluster (and a cluster_start one) when
# the script ends: on exit, on Ctrl-C, SIGTERM and SIGHUP.
citus_cluster_trap() {
    cluster_trap
}

# --------------------------------------------------------------------------
# Command line: bash tools/lib.sh stop DIR | list
# --------------------------------------------------------------------------

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    set -euo pipefail
    case "${1:-}" in
        stop)
            [[ $# -eq 2 ]] || die "usage: $0 stop BASEDIR"
            _dbcore_stop_dir "${2%/}"
            ok "stopped and removed ${2%/}"
            ;;
        list)
            shopt -s nullglob
            for d in /tmp/dbcore-*.*/ "${TMPDIR:-/tmp}"/dbcore-*.*/; do
                [[ -d "$d/data" ]] || continue
                if [[ -f "$d/data/postmaster.pid" ]]; then
                    echo "running  ${d%/}  port $(sed -n 4p "$d/data/postmaster.pid")"
                else
                    echo "stopped  ${d%/}"
                fi
            done | sort -u
            ;;
        *)
            echo "usage: bash $0 stop BASEDIR | list   (or source it from bash)" >&2
            exit 2
            ;;
    esac
fi
