# syntax=docker/dockerfile:1
# The epifeeds image: Airflow 3.3 + dbt + GX + the epifeeds package, installed from the exact lock.
# Target `platform` (the production image) serves every Airflow component; target `simulator` adds the
# agency feed simulator for a demo stack (see docker-compose.yml). The production image never holds it.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
FROM ${PYTHON_IMAGE} AS platform

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    AIRFLOW_HOME=/opt/airflow \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/epifeeds/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/epifeeds/plugins \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    AIRFLOW__COSMOS__ENABLE_TELEMETRY=False \
    DBT_SEND_ANONYMOUS_USAGE_STATS=False \
    DO_NOT_TRACK=1 \
    EPIFEEDS_ARCHIVE_URL=/opt/epifeeds/var/archive

# Unprivileged runtime user (uid 50000 like the official Airflow image, group 0 so that
# platforms running with an arbitrary uid in group 0 can still write its directories).
ARG EPIFEEDS_UID=50000
RUN useradd --uid "${EPIFEEDS_UID}" --gid 0 --create-home --home-dir /home/epifeeds --shell /bin/bash epifeeds

WORKDIR /opt/epifeeds

# Dependencies first (own layer: only re-built when the lock changes). The lock is exact and complete,
# so the package itself is then installed without resolving anything.
COPY requirements.lock ./
RUN pip install -r requirements.lock

# README.m[d]: the glob keeps the build working before the README exists (pyproject names it).
COPY pyproject.toml README.m[d] ./
COPY plugins/ plugins/
RUN pip install --no-deps -e . && epifeeds --help >/dev/null

COPY dags/ dags/
COPY dbt_project/ dbt_project/
COPY expectations/ expectations/
COPY docker/airflow-init.sh docker/airflow-secret.sh docker/
RUN chmod 0755 docker/*.sh \
    && mkdir -p /opt/airflow /opt/epifeeds/var/archive /data/sim \
    && chown -R epifeeds:0 /opt/airflow /opt/epifeeds/var /opt/epifeeds/dbt_project /opt/epifeeds/expectations /data \
    && chmod -R g+rwX /opt/airflow /opt/epifeeds/var /opt/epifeeds/dbt_project /opt/epifeeds/expectations /data

USER epifeeds

# The dbt manifest, built once here so Cosmos can render the warehouse DAG without parsing at runtime.
# Assumption: `dbt parse` (dbt-core 1.11) needs a profile but no database connection; the repo's
# dbt_project/profiles.yml reads EPIFEEDS_PG_* (defaults below are placeholders, nothing connects).
RUN cd /opt/epifeeds/dbt_project \
    && if [ -f packages.yml ] || [ -f dependencies.yml ]; then dbt deps --profiles-dir .; fi \
    && EPIFEEDS_PG_HOST=postgres EPIFEEDS_PG_USER=postgres EPIFEEDS_PG_PASSWORD=build-time-placeholder \
       dbt parse --project-dir . --profiles-dir . \
    && test -s target/manifest.json \
    && rm -rf logs

EXPOSE 8080 8765
CMD ["airflow", "version"]

# The demo stack's feed simulator: the platform image plus the simulator package (a developer tool).
FROM platform AS simulator
USER root
COPY simulator/ simulator/
RUN pip install --no-deps -e simulator && epifeeds sim --help >/dev/null
USER epifeeds
CMD ["epifeeds", "sim", "--help"]
