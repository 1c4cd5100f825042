"""Container health check without curl or wget in the image (the standard library only).

    nexus-healthcheck http [PATH]   GET http://127.0.0.1:$NEXUS_HTTP_PORT/PATH (default /health)
    nexus-healthcheck tcp PORT      a TCP connection to 127.0.0.1:PORT is accepted
    nexus-healthcheck locust        the Locust web UI answers (healthy by definition when
                                    headless or a worker: those serve no port)

Exit status 0 means healthy, 1 unhealthy, 2 wrong usage.
"""

from __future__ import annotations

import os
import socket
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence

TIMEOUT_S = 3.0
TRUE = {"1", "true", "yes", "on"}


def check_http(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def check_tcp(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S):
            return True
    except OSError:
        return False


def main(argv: Sequence[str], env: Mapping[str, str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    mode, args = argv[0], list(argv[1:])
    if mode == "http" and len(args) <= 1:
        path = args[0] if args else "/health"
        port = env.get("NEXUS_HTTP_PORT", "8081")
        return 0 if check_http(f"http://127.0.0.1:{port}{path}") else 1
    if mode == "tcp" and len(args) == 1 and args[0].isdigit():
        return 0 if check_tcp(int(args[0])) else 1
    if mode == "locust" and not args:
        if (
            env.get("LOCUST_HEADLESS", "").lower() in TRUE
            or env.get("LOCUST_MODE_WORKER", "").lower() in TRUE
        ):
            return 0
        port = env.get("LOCUST_WEB_PORT", "8089")
        return 0 if check_http(f"http://127.0.0.1:{port}/") else 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.environ))
