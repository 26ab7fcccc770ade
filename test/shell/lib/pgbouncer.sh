#!/usr/bin/env bash
# test/shell/lib/pgbouncer.sh: a private pgbouncer in transaction pooling
# mode in front of the test cluster, for the shell tests that need one
# (pgbouncer.sh, examples.sh).  Needs PSQL, PGUSER, PGHOST and PGPORT.
#
#   bouncer_workdir DIR       DIR (with DIR/sock) for pgbouncer's files; as
#                             root pgbouncer runs as the postgres OS user,
#                             which must own it
#   bouncer_start_any USERS DATABASES SETTINGS
#                             start pgbouncer on a free port (five tries):
#                             USERS the roles of its userlist (trust
#                             authentication), DATABASES the lines of its
#                             [databases] section, SETTINGS more lines of
#                             [pgbouncer]; sets BPORT and BOUNCER_PID
#   bouncer_stop              stop it (idempotent)
#   bouncer_version           its version

PGBOUNCER="${PGBOUNCER:-/usr/sbin/pgbouncer}"
BOUNCER_WORK="" BOUNCER_USER="" BOUNCER_PID="" BPORT=""

bouncer_workdir() {
    BOUNCER_WORK="$1"
    BOUNCER_USER=""
    mkdir -p "$BOUNCER_WORK/sock"
    if [[ $EUID -eq 0 ]]; then
        BOUNCER_USER=postgres
        chown postgres: "$BOUNCER_WORK" "$BOUNCER_WORK/sock"
    fi
    chmod 700 "$BOUNCER_WORK"
}

bouncer_version() { "$PGBOUNCER" --version | head -n 1 | awk '{print $2}'; }

bouncer_stop() {
    local pid="" i
    [[ -n "$BOUNCER_WORK" && -f "$BOUNCER_WORK/pgbouncer.pid" ]] &&
        pid="$(cat "$BOUNCER_WORK/pgbouncer.pid" 2>/dev/null || true)"
    [[ -n "$pid" ]] || pid="$BOUNCER_PID"
    if [[ "$pid" =~ ^[0-9]+$ ]] && [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == pgbouncer ]]; then
        kill -TERM "$pid" 2>/dev/null || true          # immediate shutdown
        for i in $(seq 1 50); do
            [[ -d "/proc/$pid" ]] || break
            sleep 0.1
        done
        if [[ -d "/proc/$pid" ]]; then kill -KILL "$pid" 2>/dev/null || true; fi
    fi
    BOUNCER_PID=""
}

_bouncer_port_free() {
    if command -v ss >/dev/null 2>&1; then
        [[ -z "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]]
    else
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 1; fi
    fi
}

_bouncer_start() {
    local port="$1" users="$2" databases="$3" settings="$4" u i
    local w="$BOUNCER_WORK"
    for u in $users; do printf '"%s" ""\n' "$u"; done >"$w/userlist.txt"
    cat >"$w/pgbouncer.ini" <<INI
[databases]
$databases

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir = $w/sock
auth_type = trust
auth_file = $w/userlist.txt
admin_users = $PGUSER
stats_users = $PGUSER
pool_mode = transaction
logfile = $w/pgbouncer.log
pidfile = $w/pgbouncer.pid
$settings
INI
    [[ -z "$BOUNCER_USER" ]] || chown postgres: "$w/userlist.txt" "$w/pgbouncer.ini"
    rm -f "$w/pgbouncer.pid"
    if [[ -n "$BOUNCER_USER" ]]; then
        (cd "$w" && runuser -u "$BOUNCER_USER" -- "$PGBOUNCER" -d -q "$w/pgbouncer.ini") || return 1
    else
        (cd "$w" && "$PGBOUNCER" -d -q "$w/pgbouncer.ini") || return 1
    fi
    # Wait for the admin console (at most 10 s).
    for i in $(seq 1 100); do
        if "$PSQL" -X -q -At -h "$w/sock" -p "$port" -U "$PGUSER" -d pgbouncer -c "SHOW VERSION" >/dev/null 2>&1; then
            BOUNCER_PID="$(cat "$w/pgbouncer.pid")"
            return 0
        fi
        sleep 0.1
    done
    return 1
}

bouncer_start_any() {
    local port _
    BPORT=""
    for _ in 1 2 3 4 5; do
        port=$((20000 + (RANDOM % 20000)))
        _bouncer_port_free "$port" || continue
        if _bouncer_start "$port" "$@"; then BPORT="$port"; return 0; fi
        bouncer_stop
    done
    return 1
}
