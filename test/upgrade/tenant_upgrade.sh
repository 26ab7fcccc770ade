#!/bin/bash
# dbcore 0.1 + ALTER EXTENSION UPDATE TO '0.2' must equal a fresh 0.2.
# Runs against the server named by PGHOST/PGPORT/PGUSER (a superuser), with
# dbcore installed there (make install); creates and drops two databases.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${TMPDIR:-/tmp}/dbcore_upgrade.$$
mkdir -p "$out"
cleanup() {
	psql -X -q -d postgres -c 'DROP DATABASE IF EXISTS dbcore_upgrade_fresh' \
		-c 'DROP DATABASE IF EXISTS dbcore_upgrade_updated' >/dev/null 2>&1 || true
	rm -rf "$out"
}
trap cleanup EXIT

psql -X -q -v ON_ERROR_STOP=1 -d postgres \
	-c 'DROP DATABASE IF EXISTS dbcore_upgrade_fresh' \
	-c 'DROP DATABASE IF EXISTS dbcore_upgrade_updated' \
	-c 'CREATE DATABASE dbcore_upgrade_fresh' \
	-c 'CREATE DATABASE dbcore_upgrade_updated'
psql -X -q -v ON_ERROR_STOP=1 -d dbcore_upgrade_fresh -c "CREATE EXTENSION dbcore VERSION '0.2'"
psql -X -q -v ON_ERROR_STOP=1 -d dbcore_upgrade_updated \
	-c "CREATE EXTENSION dbcore VERSION '0.1'" \
	-c "ALTER EXTENSION dbcore UPDATE TO '0.2'"

psql -X -v ON_ERROR_STOP=1 -d dbcore_upgrade_fresh -f "$here/describe_extension.sql" > "$out/fresh.txt"
psql -X -v ON_ERROR_STOP=1 -d dbcore_upgrade_updated -f "$here/describe_extension.sql" > "$out/updated.txt"
for db in fresh updated; do
	psql -X -v ON_ERROR_STOP=1 -d dbcore_upgrade_$db -c '\df+ dbcore.*' -c '\dy' -c '\dt+ dbcore.*' \
		-c '\dp dbcore.*' | sed 's/dbcore_upgrade_[a-z]*//g' >> "$out/$db.txt"
done

if diff -u "$out/fresh.txt" "$out/updated.txt"; then
	echo "ok: dbcore 0.1 updated to 0.2 equals a fresh 0.2 ($(grep -c . "$out/fresh.txt") lines compared)"
else
	echo "FAILED: the upgraded extension differs from a fresh install" >&2
	exit 1
fi
