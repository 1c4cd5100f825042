"""deploy/docker/healthcheck.py, the images' HEALTHCHECK, against real loopback listeners."""

from __future__ import annotations

import importlib.util
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType

import pytest

from tests.deploy.manifests import REPO


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "nexus_healthcheck", REPO / "deploy" / "docker" / "healthcheck.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


healthcheck = _load()


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = 200 if self.path in {"/health", "/"} else 503
        self.send_response(status)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_http(http_port: int) -> None:
    env = {"NEXUS_HTTP_PORT": str(http_port)}
    assert healthcheck.main(["http", "/health"], env) == 0
    assert healthcheck.main(["http", "/ready"], env) == 1
    assert healthcheck.main(["http"], {"NEXUS_HTTP_PORT": str(_free_port())}) == 1


def test_tcp(http_port: int) -> None:
    assert healthcheck.main(["tcp", str(http_port)], {}) == 0
    assert healthcheck.main(["tcp", str(_free_port())], {}) == 1


def test_locust(http_port: int) -> None:
    assert healthcheck.main(["locust"], {"LOCUST_WEB_PORT": str(http_port)}) == 0
    assert healthcheck.main(["locust"], {"LOCUST_WEB_PORT": str(_free_port())}) == 1
    assert healthcheck.main(["locust"], {"LOCUST_HEADLESS": "true"}) == 0


def test_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert healthcheck.main([], {}) == 2
    assert healthcheck.main(["tcp", "x"], {}) == 2
    assert "nexus-healthcheck" in capsys.readouterr().err
