# syntax=docker/dockerfile:1
# The digital twin: a fleet of simulated PLCs from a plant file (`nexus sim fleet`).
#   docker build -f deploy/docker/twin.Dockerfile -t nexus-edge/twin:0.1.0 .
#   docker run -p 5020-5050:5020-5050 nexus-edge/twin:0.1.0
# The demo plant has 25 Modbus devices, 3 OPC UA servers and 3 S7 PLCs: device i listens on
# 5020 + i (5020-5050). Another plant file can be
# mounted and named: docker run ... nexus-edge/twin:0.1.0 /plants/mine.yaml --host 0.0.0.0 ...
# Runs as UID 10001 on a read-only root filesystem; writable: /tmp (tmpfs / emptyDir).

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
COPY scenarios/plants /app/scenarios/plants
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /tmp
USER 10001:10001
EXPOSE 5020-5050
# The first device's port answers once the fleet is up.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "/usr/local/bin/nexus-healthcheck", "tcp", "5020"]
ENTRYPOINT ["nexus", "sim", "fleet"]
CMD ["/app/scenarios/plants/demo.yaml", "--host", "0.0.0.0", "--base-port", "5020"]
