#!/bin/bash
# First start of the PostgreSQL container: one role and one database per component,
# each with its own password (from the environment docker-compose passes).
set -euo pipefail
create() {
  local name=$1 password=$2
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v name="$name" -v password="$password" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
SQL
}
create jupyterhub "$HUB_DB_PASSWORD"
create notebook_manager "$TEMPLATES_DB_PASSWORD"
create mlflow "$MLFLOW_DB_PASSWORD"
create superset "$SUPERSET_DB_PASSWORD"

# Superset reads the service's analytics views through a role that can read nothing
# else (the migration that makes the views grants it SELECT on them).
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v password="$ANALYTICS_DB_PASSWORD" <<'SQL'
CREATE ROLE templates_analytics LOGIN PASSWORD :'password';
SQL
