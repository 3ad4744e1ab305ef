#!/usr/bin/env bash
# One-shot initialisation for the compose stack (the `airflow-init` service):
#   1. generate the shared Airflow secrets once (unless .env provides them),
#   2. migrate the Airflow metadata database,
#   3. set the SimpleAuthManager password of the admin user from AIRFLOW_ADMIN_PASSWORD.
# Idempotent: safe to run on every `docker-compose up`.
set -euo pipefail
: "${AIRFLOW_ADMIN_PASSWORD:?set AIRFLOW_ADMIN_PASSWORD (docker/env.example): there is no default login}"

secrets_dir="${AIRFLOW_HOME:?}/secrets"
mkdir -p "$secrets_dir"
chmod 0770 "$secrets_dir"
python - "$secrets_dir" <<'PY'
import os
import secrets
import sys
from pathlib import Path

from cryptography.fernet import Fernet

generators = {
    "fernet_key": lambda: Fernet.generate_key().decode(),
    "jwt_secret": lambda: secrets.token_urlsafe(48),
    "api_secret_key": lambda: secrets.token_urlsafe(48),
}
directory = Path(sys.argv[1])
for name, generate in generators.items():
    path = directory / name
    if not path.exists() or not path.read_text().strip():
        path.write_text(generate())
        os.chmod(path, 0o600)
        print(f"airflow-init: generated {path}")
PY

airflow db migrate

# SimpleAuthManager (Airflow 3's default) reads passwords from a JSON file; it only generates random
# ones for users missing from it. Writing the admin password here gives the login you chose.
python - <<'PY'
import json
import os
from pathlib import Path

from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

path = Path(SimpleAuthManager.get_generated_password_file())
passwords = json.loads(path.read_text() or "{}") if path.exists() else {}
username = os.environ.get("AIRFLOW_ADMIN_USERNAME", "admin")
passwords[username] = os.environ["AIRFLOW_ADMIN_PASSWORD"]
path.write_text(json.dumps(passwords) + "\n")
os.chmod(path, 0o600)
print(f"airflow-init: SimpleAuthManager password set for user '{username}' in {path}")
PY
