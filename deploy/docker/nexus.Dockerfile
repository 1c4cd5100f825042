# syntax=docker/dockerfile:1
# The NEXUS Edge services: one image, entry point `nexus`, for the gateway and the ingest.
#   docker build -f deploy/docker/nexus.Dockerfile -t nexus-edge/nexus:0.1.0 .
#   docker run nexus-edge/nexus:0.1.0 gateway run --config /etc/nexus/devices.yaml
#   docker run nexus-edge/nexus:0.1.0 ingest run
# Runs as UID 10001 on a read-only root filesystem; writable paths: /tmp (mount a tmpfs /
# emptyDir there) and, for the gateway, its store-and-forward spool /var/spool/nexus (a volume:
# an emptyDir survives container restarts, a persistent volume also pod replacement). Bytecode is compiled at build time, never written at run time.
# Pin by digest for bit-for-bit rebuilds: python:3.11.13-slim-bookworm@sha256:<digest>.

FROM python:3.11.13-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY nexus ./nexus
COPY simulators ./simulators
RUN pip install . && python -m compileall -q /opt/venv

FROM python:3.11.13-slim-bookworm AS runtime
RUN groupadd --gid 10001 nexus \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin nexus
COPY --from=build /opt/venv /opt/venv
COPY deploy/docker/healthcheck.py /usr/local/bin/nexus-healthcheck
RUN mkdir -p /var/spool/nexus && chown 10001:10001 /var/spool/nexus
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    NEXUS_HTTP_HOST=0.0.0.0 \
    NEXUS_HTTP_PORT=8081 \
    NEXUS_API_PORT=8080 \
    NEXUS_GATEWAY_SPOOL_DIR=/var/spool/nexus
WORKDIR /tmp
USER 10001:10001
# 8081: /health /ready /metrics; 8080: the gateway's device API
EXPOSE 8080 8081
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "/usr/local/bin/nexus-healthcheck", "http", "/health"]
ENTRYPOINT ["nexus"]
CMD ["--help"]
