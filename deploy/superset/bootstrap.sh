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

bundle=$(mktemp -d)/jupyterhub-templates-dashboard.zip
python "$here/bundle.py" "$bundle"
superset import-dashboards --path "$bundle" --username "${SUPERSET_ADMIN_USERNAME:-admin}"
rm -f "$bundle"

exec "$@"
