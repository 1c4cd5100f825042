# syntax=docker/dockerfile:1
# In-cluster load: Locust with the project's package and the locustfiles under load/.
#   docker build -f deploy/docker/load.Dockerfile -t nexus-edge/load:0.1.0 .
#   docker run nexus-edge/load:0.1.0 --headless -u 100 -r 10 --run-time 5m
# The entry point is generic: `locust -f /app/load/locustfile.py`; every other Locust option
# (or LOCUST_* environment variable) is passed through. Web UI on 8089 unless --headless.
# Needs load/locustfile.py in the build context (`make images` skips this image without it).
# Runs as UID 10001 on a read-only root filesystem; writable: /tmp (tmpfs / emptyDir).

FROM python:3.11.13-slim-bookworm AS build
ARG LOCUST_VERSION=2.47.0
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY nexus ./nexus
COPY simulators ./simulators
RUN pip install ".[load]" "locust==${LOCUST_VERSION}" && python -m compileall -q /opt/venv

FROM python:3.11.13-slim-bookworm AS runtime
RUN groupadd --gid 10001 nexus \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin nexus
COPY --from=build /opt/venv /opt/venv
COPY deploy/docker/healthcheck.py /usr/local/bin/nexus-healthcheck
COPY load /app/load
COPY scenarios/plants /app/scenarios/plants
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app
WORKDIR /tmp
USER 10001:10001
EXPOSE 8089
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "/usr/local/bin/nexus-healthcheck", "locust"]
ENTRYPOINT ["locust", "-f", "/app/load/locustfile.py"]
CMD []
