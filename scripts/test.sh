#!/usr/bin/env bash
# Sets up what the tests need on a fresh Debian machine, then runs lint, types and the tests
# on SQLite and PostgreSQL. Extra arguments go to pytest (e.g. `bash scripts/test.sh -k flow`).
# The tests run in two parts: all but the `serial` ones in parallel (pytest-xdist, one worker
# per core, PITCREW_TEST_WORKERS to change it), then the `serial` ones alone.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=
apt_install() {
  [ -n "$apt_updated" ] || { as_root apt-get update -qq; apt_updated=1; }
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

# Debian's Chromium drives the browser tests (never a downloaded browser).
[ -x /usr/bin/chromium ] || { echo "installing chromium"; apt_install chromium; }

# Debian's nginx runs deploy/nginx/pitcrew.conf in front of pitcrew (tests/test_nginx.py).
[ -x /usr/sbin/nginx ] || { echo "installing nginx"; apt_install nginx; }

# WeasyPrint prints the report's PDF with Debian's Pango, HarfBuzz and fonts.
dpkg -s libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core >/dev/null 2>&1 || {
  echo "installing the PDF libraries"
  apt_install libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core
}

# PostgreSQL must answer on 127.0.0.1:5432: start it if it is installed but down, install it if absent.
pg_up() { python3 - <<'PY'
import socket, sys
s = socket.socket(); s.settimeout(1)
sys.exit(0 if s.connect_ex(("127.0.0.1", 5432)) == 0 else 1)
PY
}
if ! pg_up; then
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    echo "installing postgresql"; apt_install postgresql
    conf=$(ls -d /etc/postgresql/*/main | head -n1)
    as_root sed -i -E 's/^(host\s+all\s+all\s+127\.0\.0\.1\/32\s+)\S+/\1trust/' "$conf/pg_hba.conf"
  fi
  for v in $(ls /etc/postgresql); do
    as_root pg_ctlcluster --skip-systemctl-redirect "$v" main start || true
  done
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
  pg_up || { echo "PostgreSQL does not answer on 127.0.0.1:5432" >&2; exit 1; }
fi

# The bench's smoke test runs pgbench (Debian ships it with the server or the client package).
ls /usr/lib/postgresql/*/bin/pgbench >/dev/null 2>&1 || { echo "installing pgbench"; apt_install postgresql-contrib; }

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e '.[test]'

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy

# Only listing the tests (--collect-only, --co, --fixtures, --markers...): one plain run.
for arg in "$@"; do
  case "$arg" in
    --co|--collect-only|--fixtures|--fixtures-per-test|--markers|--help|-h|--version)
      exec .venv/bin/pytest "$@" ;;
  esac
done

# A part that selects no test (exit 5, e.g. `-k` matching only one part) is no failure, but a
# run where neither part selects anything is.
workers=${PITCREW_TEST_WORKERS:-$(nproc)}
status=0
# The slowest tests are listed at the end of the run: the suite has a budget of 10 minutes.
.venv/bin/pytest -n "$workers" --dist worksteal --part parallel --durations=15 "$@" || status=$?
serial=0
.venv/bin/pytest --part serial "$@" || serial=$?
if [ "$status" = 5 ] && [ "$serial" = 5 ]; then exit 5; fi
[ "$status" = 5 ] && status=0
[ "$serial" = 5 ] && serial=0
[ "$status" = 0 ] || exit "$status"
exit "$serial"
