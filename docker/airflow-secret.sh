#!/bin/sh
# Print one shared Airflow secret, for Airflow's `*_CMD` settings (docker-compose.yml wires
# AIRFLOW__CORE__FERNET_KEY_CMD, AIRFLOW__API_AUTH__JWT_SECRET_CMD, AIRFLOW__API__SECRET_KEY_CMD).
# The value comes from the environment when set (e.g. from a .env file), else from the file that
# `airflow-init` generated once in the shared AIRFLOW_HOME volume. So every component (scheduler,
# api-server, dag-processor, triggerer) uses the same key, and no secret lives in the repository.
set -eu
name="${1:?usage: airflow-secret.sh fernet_key|jwt_secret|api_secret_key}"
case "$name" in
    fernet_key) value="${AIRFLOW_FERNET_KEY:-}" ;;
    jwt_secret) value="${AIRFLOW_JWT_SECRET:-}" ;;
    api_secret_key) value="${AIRFLOW_API_SECRET_KEY:-}" ;;
    *) echo "airflow-secret.sh: unknown secret '$name'" >&2; exit 2 ;;
esac
if [ -n "$value" ]; then
    printf '%s' "$value"
    exit 0
fi
file="${AIRFLOW_HOME:-/opt/airflow}/secrets/$name"
if [ ! -s "$file" ]; then
    echo "airflow-secret.sh: $file is missing; run the airflow-init service first" >&2
    exit 1
fi
cat "$file"
