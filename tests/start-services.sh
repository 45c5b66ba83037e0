#!/usr/bin/env bash
# Start what the tests need that is not started by the tests themselves:
# PostgreSQL on 127.0.0.1:5432 (the tests start moto and JupyterHub on their own).
set -euo pipefail

if command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432; then
  exit 0
fi
if [ -d /etc/postgresql ] && command -v pg_ctlcluster >/dev/null; then
  version=$(ls /etc/postgresql | sort -V | tail -1)
  echo "starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  for _ in $(seq 1 30); do
    pg_isready -q -h 127.0.0.1 -p 5432 && exit 0
    sleep 1
  done
fi
echo "PostgreSQL is not running on 127.0.0.1:5432 and could not be started" >&2
echo "(install it, e.g. 'apt-get install postgresql', or set TEMPLATES_TEST_PG_URL)" >&2
exit 1
