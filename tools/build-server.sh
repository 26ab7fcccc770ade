#!/usr/bin/env bash
# tools/build-server.sh: build a PostgreSQL server (and Citus) that dbcore is
# tested against, once per machine, into a cached prefix.
#
#   bash tools/build-server.sh pg18 [--release]   PostgreSQL 18.6 with pgTAP;
#                                                  assert-enabled unless --release
#   bash tools/build-server.sh citus [--release]  the same, plus Citus 14.0.1
#   bash tools/build-server.sh path pg18|citus [--release]
#                                                  print the prefix; no build
#
# The last line printed is the prefix; its pg_config is <prefix>/bin/pg_config.
# A build is cached under a directory named after the version, the flags and
# the archive's checksum, so a second run only prints the prefix.  Sources
# come from ../shared/vendor (override: DBCORE_VENDOR_DIR), checked against
# the checksums below first.  Builds go to DBCORE_CACHE_DIR (default
# /var/cache/dbcore as root, else ~/.cache/dbcore).  Only this script reads the
# vendor folder, and only when it has something to build.
set -euo pipefail

# shellcheck source=tools/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PG_VERSION=18.6
PG_ARCHIVE=postgresql-18.6.tar.bz2
PG_SHA256=555610c24d53e4316da5b7d3fc25c279d96856d5e0e23ee308c328c5fa881d9f
PGTAP_VERSION=1.3.4
PGTAP_ARCHIVE=pgtap-1.3.4.tar.gz
PGTAP_SHA256=d2c951afb296a001d21785611a8e966e3f8fa3f5bfbd929396a5130c0152f314
CITUS_VERSION=14.0.1
CITUS_ARCHIVE=citus-14.0.1.tar.gz
CITUS_SHA256=acfa9a77cd84a8e1edab26cca4a71355f39c910c01586da89560e0240d4b05ba

BUILD_DEB_PACKAGES=(bison flex libssl-dev pkg-config zlib1g-dev make gcc)

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
    exit "${1:-0}"
}

vendor_dir() {
    local d="${DBCORE_VENDOR_DIR:-$DBCORE_ROOT/../shared/vendor}"
    [[ -d "$d" ]] || die "vendor folder $d not found (set DBCORE_VENDOR_DIR, or pass PG_CONFIG for a server you built yourself)"
    (cd "$d" && pwd)
}

cache_dir() {
    if [[ -n "${DBCORE_CACHE_DIR:-}" ]]; then
        printf '%s\n' "$DBCORE_CACHE_DIR"
    elif [[ $EUID -eq 0 ]]; then
        printf '%s\n' /var/cache/dbcore
    else
        printf '%s\n' "${XDG_CACHE_HOME:-$HOME/.cache}/dbcore"
    fi
}

# configure_flags FLAVOUR: PostgreSQL's configure flags for a build.  The
# test build has assertions, debug symbols and valgrind client requests (so
# that memcheck sees palloc'd chunks, not only the blocks contexts carve
# them from); the release build, for benchmarks, has debug symbols only.
configure_flags() {
    if [[ "$1" == cassert ]]; then
        echo --enable-cassert --enable-debug CPPFLAGS=-DUSE_VALGRIND
    else
        echo --enable-debug
    fi
}

# prefix_of KIND FLAVOUR: where that build lives; the name changes with the
# version, the archive's checksum and the flags.
prefix_of() {
    local kind="$1" flavour="$2" name flags
    flags="$(configure_flags "$flavour" | sha256sum | cut -c1-8)"
    name="postgresql-$PG_VERSION-$flavour-$flags-${PG_SHA256:0:12}"
    if [[ "$kind" == citus ]]; then
        name+="-citus-$CITUS_VERSION-${CITUS_SHA256:0:12}"
    fi
    printf '%s/%s\n' "$(cache_dir)" "$name"
}

verify_archive() {   # verify_archive FILE SHA256
    local file="$1" want="$2" got
    [[ -f "$file" ]] || die "$file not found"
    got="$(sha256sum "$file" | awk '{print $1}')"
    [[ "$got" == "$want" ]] || die "checksum mismatch for $file: expected $want, got $got"
}

install_build_deps() {
    command -v dpkg-query >/dev/null 2>&1 || return 0
    local missing=() p
    for p in "${BUILD_DEB_PACKAGES[@]}"; do
        _dbcore_pkg_present "$p" || missing+=("$p")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    say "installing build packages: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null 2>&1 || true
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 </dev/null ||
        die "apt-get install ${missing[*]} failed"
}

# build_pg PREFIX FLAVOUR: PostgreSQL and pgTAP into PREFIX.
build_pg() {
    local prefix="$1" flavour="$2" vendor src jobs log flags=()
    vendor="$(vendor_dir)"
    verify_archive "$vendor/$PG_ARCHIVE" "$PG_SHA256"
    verify_archive "$vendor/$PGTAP_ARCHIVE" "$PGTAP_SHA256"
    install_build_deps
    jobs="$(nproc 2>/dev/null || echo 2)"
    src="$(mktemp -d "${TMPDIR:-/tmp}/dbcore-pgbuild.XXXXXX")"
    log="$src/build.log"
    # shellcheck disable=SC2064  # expand now: the directory to remove
    trap "rm -rf '$src'" RETURN
    read -r -a flags <<<"$(configure_flags "$flavour")"
    say "building PostgreSQL $PG_VERSION ($flavour) into $prefix (a one-time build; log: $log)"
    tar -xjf "$vendor/$PG_ARCHIVE" -C "$src"
    (
        cd "$src/postgresql-$PG_VERSION"
        ./configure --prefix="$prefix" --without-icu --without-readline --with-openssl \
            "${flags[@]}" CFLAGS="-O2 -fno-omit-frame-pointer" >"$log" 2>&1
        make -j"$jobs" world-bin >>"$log" 2>&1
        make install-world-bin >>"$log" 2>&1
    ) || { tail -n 40 "$log" >&2; die "PostgreSQL build failed"; }
    say "building pgTAP $PGTAP_VERSION"
    tar -xzf "$vendor/$PGTAP_ARCHIVE" -C "$src"
    (
        cd "$src/pgtap-$PGTAP_VERSION"
        make PG_CONFIG="$prefix/bin/pg_config" >>"$log" 2>&1
        make install PG_CONFIG="$prefix/bin/pg_config" >>"$log" 2>&1
    ) || { tail -n 40 "$log" >&2; die "pgTAP build failed"; }
}

# build_citus PREFIX: Citus into a PostgreSQL prefix that is not final yet.
build_citus() {
    local prefix="$1" vendor src jobs log
    vendor="$(vendor_dir)"
    verify_archive "$vendor/$CITUS_ARCHIVE" "$CITUS_SHA256"
    install_build_deps
    jobs="$(nproc 2>/dev/null || echo 2)"
    src="$(mktemp -d "${TMPDIR:-/tmp}/dbcore-citusbuild.XXXXXX")"
    log="$src/build.log"
    # shellcheck disable=SC2064
    trap "rm -rf '$src'" RETURN
    say "building Citus $CITUS_VERSION into $prefix (log: $log)"
    mkdir -p "$src/citus"
    tar -xzf "$vendor/$CITUS_ARCHIVE" -C "$src/citus" --strip-components=1
    (
        cd "$src/citus"
        ./configure PG_CONFIG="$prefix/bin/pg_config" --without-libcurl --without-lz4 --without-zstd >"$log" 2>&1
        make -j"$jobs" >>"$log" 2>&1
        make install >>"$log" 2>&1
    ) || { tail -n 40 "$log" >&2; die "Citus build failed"; }
}

# ensure KIND FLAVOUR: build what is missing; print the prefix.
ensure() {
    local kind="$1" flavour="$2" prefix base cache lockfile
    cache="$(cache_dir)"
    mkdir -p "$cache"
    prefix="$(prefix_of "$kind" "$flavour")"
    if [[ -x "$prefix/bin/pg_config" && -f "$prefix/.complete" ]]; then
        printf '%s\n' "$prefix"
        return 0
    fi
    # One build at a time per machine.
    lockfile="$cache/.build.lock"
    exec 9>"$lockfile"
    flock 9
    if [[ -x "$prefix/bin/pg_config" && -f "$prefix/.complete" ]]; then
        exec 9>&-
        printf '%s\n' "$prefix"
        return 0
    fi
    # An unfinished earlier build (no .complete) is thrown away.  PostgreSQL
    # is configured with its final prefix: its programs carry an rpath to it.
    rm -rf "${prefix:?}"
    if [[ "$kind" == citus ]]; then
        base="$(prefix_of pg18 "$flavour")"
        if [[ ! -f "$base/.complete" ]]; then
            exec 9>&-
            ensure pg18 "$flavour" >/dev/null
            exec 9>"$lockfile"
            flock 9
        fi
        # A copy of the plain build (installs are relocatable; the programs'
        # rpath still names the plain build's libpq, which stays), plus Citus.
        cp -a "$base" "$prefix"
        rm -f "$prefix/.complete"
        build_citus "$prefix"
    else
        build_pg "$prefix" "$flavour"
    fi
    date -u +%FT%TZ >"$prefix/.complete"
    exec 9>&-
    ok "built $prefix"
    printf '%s\n' "$prefix"
}

main() {
    local cmd="${1:-}" kind flavour=cassert arg
    [[ -n "$cmd" ]] || usage 2 >&2
    shift
    if [[ "$cmd" == path ]]; then
        kind="${1:-}"
        shift || true
    else
        kind="$cmd"
    fi
    for arg in "$@"; do
        case "$arg" in
            --release) flavour=release ;;
            -h|--help) usage 0 ;;
            *) echo "unknown option: $arg" >&2; usage 2 >&2 ;;
        esac
    done
    case "$kind" in
        pg18|citus) ;;
        -h|--help) usage 0 ;;
        *) echo "unknown server: $kind" >&2; usage 2 >&2 ;;
    esac
    if [[ "$cmd" == path ]]; then
        prefix_of "$kind" "$flavour"
    else
        ensure "$kind" "$flavour"
    fi
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    main "$@"
fi
