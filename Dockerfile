# The team server: `clearance serve` with the server, postgres and data extras.
# docs/install.md shows how to build and run it, and compose.yaml runs it with PostgreSQL.
#
#   docker build -t clearance .
#   docker run --rm -e CLEARANCE_DB_URL=postgresql://... -v clearance:/workspace clearance init /workspace
#   docker run -p 8000:8000 -e CLEARANCE_DB_URL=postgresql://... -v clearance:/workspace clearance

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CLEARANCE_WORKSPACE=/workspace
# The versions CI tests (requirements/lock.txt) for every library the extras bring.
COPY requirements/lock.txt /tmp/lock.txt
COPY --from=build /wheels /tmp/wheels
RUN wheel="$(ls /tmp/wheels/clearance-*.whl)" \
    && pip install -c /tmp/lock.txt "clearance[server,postgres,data] @ file://${wheel}" \
    && rm -rf /tmp/wheels /tmp/lock.txt \
    && useradd --system --uid 10001 --user-group --home-dir /workspace --create-home \
       --shell /usr/sbin/nologin clearance
# Not root: the workspace (blob store, the audit signing key) belongs to this user alone.
USER 10001:10001
WORKDIR /workspace
VOLUME ["/workspace"]
EXPOSE 8000
# /healthz answers without touching the database: the process is up (/readyz checks the DB).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request as u; sys.exit(u.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]
ENTRYPOINT ["clearance"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
