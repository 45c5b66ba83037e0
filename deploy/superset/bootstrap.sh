#!/bin/bash
# Superset's start in the docker-compose deployment: migrate its metadata, make the
# admin account, then import the templates dashboard (its database connection, the
# datasets over the analytics views, the charts and the dashboard) and hand over to the
# command given (the image's server). Every step can run again: a restart updates the
# dashboard to the version in this folder and keeps the admin's password.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

superset db upgrade
# leaves an existing admin (and the password it has now) alone
superset fab create-admin \
  --username "${SUPERSET_ADMIN_USERNAME:-admin}" \
  --password "$SUPERSET_ADMIN_PASSWORD" \
  --firstname Superset --lastname Admin --email admin@localhost
superset init

work=$(mktemp -d)
python "$here/bundle.py" "$work/dashboard.zip"
superset import-dashboards --path "$work/dashboard.zip" --username "${SUPERSET_ADMIN_USERNAME:-admin}"
rm -rf "$work"

exec "$@"
