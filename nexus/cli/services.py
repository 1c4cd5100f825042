"""`nexus gateway run` and `nexus ingest run`: the production entry points."""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
from pathlib import Path

from nexus.cli.runner import run_until_signalled
from nexus.errors import ConfigError
from nexus.tasks import wait_stop_or_failure


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    gateway = subparsers.add_parser("gateway", help="the protocol gateway")
    gw_sub = gateway.add_subparsers(dest="action", required=True)
    run = gw_sub.add_parser("run", help="poll the configured devices and publish to MQTT")
    run.add_argument(
        "--config",
        default=os.environ.get("NEXUS_GATEWAY_CONFIG", "devices.yaml"),
        help="device configuration YAML (env NEXUS_GATEWAY_CONFIG)",
    )
    run.add_argument(
        "--publish-mode",
        choices=["batch", "tag"],
        default=os.environ.get("NEXUS_GATEWAY_PUBLISH_MODE", "batch"),
        help="batch: one message per device poll (default); tag: one message per point "
        "(env NEXUS_GATEWAY_PUBLISH_MODE)",
    )
    run.add_argument(
        "--spool-dir",
        default=os.environ.get("NEXUS_GATEWAY_SPOOL_DIR"),
        help="store-and-forward directory; put it on a persistent volume "
        "(env NEXUS_GATEWAY_SPOOL_DIR; default .run/spool/GATEWAY_ID)",
    )
    run.add_argument(
        "--spool-max-mb",
        type=int,
        default=_env_int("NEXUS_GATEWAY_SPOOL_MAX_MB", 512),
        help="spool size bound; beyond it the oldest messages are dropped and counted",
    )
    run.add_argument(
        "--group",
        default=os.environ.get("NEXUS_GATEWAY_GROUP"),
        help="share the device file with the other live replicas of this group "
        "(env NEXUS_GATEWAY_GROUP; default: poll every device)",
    )
    run.add_argument(
        "--reload-interval",
        type=float,
        default=2.0,
        help="seconds between checks of the device file for changes (0 turns reloading off)",
    )
    run.add_argument(
        "--api-port",
        type=int,
        default=_env_int("NEXUS_API_PORT", 8080),
        help="device API port (env NEXUS_API_PORT; 0 picks a free port)",
    )
    _http_args(run)
    run.set_defaults(func=_run_gateway)
    check = gw_sub.add_parser("check", help="validate a device configuration and exit")
    check.add_argument("config")
    check.set_defaults(func=_check_gateway)

    ingest = subparsers.add_parser("ingest", help="the ingest service")
    in_sub = ingest.add_subparsers(dest="action", required=True)
    run = in_sub.add_parser("run", help="consume MQTT and write to PostgreSQL")
    run.add_argument(
        "--batch-points",
        type=int,
        default=_env_int("NEXUS_INGEST_BATCH_POINTS", 5000),
        help="points per database transaction (env NEXUS_INGEST_BATCH_POINTS)",
    )
    run.add_argument(
        "--flush-interval",
        type=float,
        default=float(os.environ.get("NEXUS_INGEST_FLUSH_INTERVAL", "1.0")),
        help="seconds a point may wait for its batch (env NEXUS_INGEST_FLUSH_INTERVAL)",
    )
    run.add_argument(
        "--max-buffer-points",
        type=int,
        default=_env_int("NEXUS_INGEST_MAX_BUFFER_POINTS", 50_000),
        help="points held while the database is away; then reading pauses "
        "(env NEXUS_INGEST_MAX_BUFFER_POINTS)",
    )
    run.add_argument(
        "--shutdown-timeout",
        type=float,
        default=float(os.environ.get("NEXUS_INGEST_SHUTDOWN_TIMEOUT", "20")),
        help="seconds to drain on SIGTERM; keep below the pod's grace period",
    )
    run.add_argument(
        "--group",
        default=os.environ.get("NEXUS_INGEST_GROUP", "ingestion"),
        help="shared-subscription group (env NEXUS_INGEST_GROUP)",
    )
    _http_args(run)
    run.set_defaults(func=_run_ingest)


def _http_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--http-host",
        default=os.environ.get("NEXUS_HTTP_HOST", "127.0.0.1"),
        help="address of /health /ready /metrics (env NEXUS_HTTP_HOST)",
    )
    parser.add_argument(
        "--http-port", type=int, default=int(os.environ.get("NEXUS_HTTP_PORT", "8081"))
    )


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"not an integer: {raw!r}", file="environment", field=name) from None


def _replica_id(prefix: str) -> str:
    """Stable and unique per replica: the pod name on Kubernetes, else the host name."""
    return os.environ.get("POD_NAME") or f"{prefix}-{socket.gethostname()}"


def _check_gateway(args: argparse.Namespace) -> int:
    from nexus.gateway.config import GatewayConfig

    config = GatewayConfig.load(args.config)
    tags = sum(len(d.tags) for d in config.devices)
    print(f"{args.config}: ok, {len(config.devices)} devices, {tags} tags")
    return 0


def _run_gateway(args: argparse.Namespace) -> int:
    from nexus.gateway.config import GatewayConfig
    from nexus.gateway.ledger import AckLedger
    from nexus.gateway.publisher import PublishMode
    from nexus.gateway.service import Gateway
    from nexus.settings import mqtt_from_env

    config = GatewayConfig.load(args.config)
    gateway_id = os.environ.get("NEXUS_GATEWAY_ID") or _replica_id("gateway")
    # Sharing the fleet: a replica cut off without a goodbye is declared dead by the broker
    # after 1.5 keep-alives, so its devices move within 15 s.
    mqtt = mqtt_from_env(
        client_id=os.environ.get("NEXUS_MQTT_CLIENT_ID") or gateway_id,
        keepalive_s=10 if args.group else 30,
    )

    ledger_path = os.environ.get("NEXUS_GATEWAY_LEDGER")
    ledger = AckLedger(ledger_path) if ledger_path else None

    async def main(stop: asyncio.Event) -> int:
        try:
            return await serve(stop)
        finally:
            if ledger is not None:
                ledger.close()

    async def serve(stop: asyncio.Event) -> int:
        async with Gateway(
            config,
            on_acked=ledger.record if ledger is not None else None,
            mqtt=mqtt,
            gateway_id=gateway_id,
            http_host=args.http_host,
            http_port=args.http_port,
            publish_mode=PublishMode(args.publish_mode),
            api_port=args.api_port,
            spool_dir=Path(args.spool_dir or f".run/spool/{gateway_id}"),
            spool_max_bytes=args.spool_max_mb * 1024 * 1024,
            group=args.group,
            config_path=Path(args.config) if args.reload_interval > 0 else None,
            reload_interval_s=args.reload_interval or 2.0,
        ) as gateway:
            await wait_stop_or_failure(stop, gateway.failed)
        return 1 if gateway.failure is not None else 0

    return run_until_signalled(main)


def _run_ingest(args: argparse.Namespace) -> int:
    from nexus.ingest.service import Ingest
    from nexus.settings import db_dsn_from_env, mqtt_from_env

    if args.batch_points < 1 or args.flush_interval <= 0:
        raise ConfigError("must be positive", field="--batch-points/--flush-interval")
    if args.max_buffer_points < args.batch_points:
        raise ConfigError("must be at least --batch-points", field="--max-buffer-points")
    # A day: a replica killed outright gets its unacknowledged messages back when it returns.
    mqtt = mqtt_from_env(
        client_id=os.environ.get("NEXUS_MQTT_CLIENT_ID") or _replica_id("ingest"),
        session_expiry_s=86400,
    )
    dsn = db_dsn_from_env()

    async def main(stop: asyncio.Event) -> int:
        async with Ingest(
            mqtt=mqtt,
            db_dsn=dsn,
            group=args.group,
            batch_points=args.batch_points,
            flush_interval_s=args.flush_interval,
            max_buffer_points=args.max_buffer_points,
            shutdown_timeout_s=args.shutdown_timeout,
            http_host=args.http_host,
            http_port=args.http_port,
        ) as ingest:
            await wait_stop_or_failure(stop, ingest.failed)
        return 1 if ingest.failure is not None else 0

    return run_until_signalled(main)
