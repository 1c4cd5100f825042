"""The device swarm's options: Locust command-line arguments, each also an environment variable.

``add_arguments`` registers them on Locust's parser (they show in the web UI's start form under
"Custom parameters"); ``LoadOptions.from_namespace`` validates what was parsed. This module does
not import Locust at run time, so it can be tested without gevent.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from load.telemetry import MAX_TAGS, PayloadForm, check_name

if TYPE_CHECKING:
    from locust.argument_parser import LocustArgumentParser


class OptionsError(ValueError):
    """An invalid option; the message names the argument and its environment variable."""


@dataclass(frozen=True)
class Option:
    flag: str
    env: str
    default: str
    help: str
    web: bool = True


OPTIONS = (
    Option("--payload-form", "NEXUS_LOAD_FORM", "batch", "batch (one message per poll) or tag"),
    Option("--device-tags", "NEXUS_LOAD_TAGS", "20", "tags (points) per device and poll"),
    Option("--device-rate", "NEXUS_LOAD_RATE", "1", "polls per second of each device"),
    Option("--site", "NEXUS_LOAD_SITE", "load", "topic level {site}: dev/{site}/{run}/{device}"),
    Option("--puback-timeout", "NEXUS_LOAD_PUBACK_TIMEOUT", "10", "seconds a PUBACK may take"),
    Option(
        "--e2e-samples",
        "NEXUS_LOAD_E2E_SAMPLES",
        "20",
        "points per second whose end-to-end latency is measured (0: none)",
    ),
    Option("--e2e-interval", "NEXUS_LOAD_E2E_INTERVAL", "0.25", "seconds between DB look-ups"),
    Option(
        "--e2e-timeout",
        "NEXUS_LOAD_E2E_TIMEOUT",
        "30",
        "seconds after which a sampled point counts as never stored",
    ),
    Option(
        "--drain-timeout",
        "NEXUS_LOAD_DRAIN",
        "20",
        "seconds the ledger waits at the end for acknowledged points to be stored",
    ),
    Option(
        "--ledger",
        "NEXUS_LOAD_LEDGER",
        "on",
        "on: check every acknowledged point against the historian at the end; off",
    ),
    Option(
        "--summary-file",
        "NEXUS_LOAD_SUMMARY",
        "",
        "write the run's summary (JSON) to this file at the end",
        web=False,
    ),
    Option(
        "--allow-remote",
        "NEXUS_LOAD_ALLOW_REMOTE",
        "0",
        "1: allow a broker or database that is not on this machine",
        web=False,
    ),
)


def dest(option: Option) -> str:
    return option.flag.lstrip("-").replace("-", "_")


def add_arguments(parser: LocustArgumentParser) -> None:
    """Register every option on Locust's parser (``events.init_command_line_parser``)."""
    for option in OPTIONS:
        parser.add_argument(
            option.flag,
            type=str,
            env_var=option.env,
            default=option.default,
            help=f"{option.help} (env {option.env}, default {option.default or 'none'})",
            include_in_web_ui=option.web,
        )


@dataclass(frozen=True)
class LoadOptions:
    form: PayloadForm = PayloadForm.BATCH
    tags: int = 20
    rate: float = 1.0
    site: str = "load"
    puback_timeout_s: float = 10.0
    e2e_samples_per_s: float = 20.0
    e2e_interval_s: float = 0.25
    e2e_timeout_s: float = 30.0
    drain_s: float = 20.0
    ledger: bool = True
    summary_file: str = ""
    allow_remote: bool = False

    @classmethod
    def from_namespace(cls, ns: argparse.Namespace) -> LoadOptions:
        """Validated options from Locust's parsed options (missing ones take the default)."""
        raw = {dest(o): str(getattr(ns, dest(o), o.default) or o.default) for o in OPTIONS}
        return cls(
            form=_choice(raw, "payload_form", PayloadForm),
            tags=int(_number(raw, "device_tags", 1, MAX_TAGS, integer=True)),
            rate=_number(raw, "device_rate", 0.001, 1000),
            site=_site(raw["site"]),
            puback_timeout_s=_number(raw, "puback_timeout", 0.1, 3600),
            e2e_samples_per_s=_number(raw, "e2e_samples", 0, 10_000),
            e2e_interval_s=_number(raw, "e2e_interval", 0.01, 60),
            e2e_timeout_s=_number(raw, "e2e_timeout", 0.1, 3600),
            drain_s=_number(raw, "drain_timeout", 0, 3600),
            ledger=_flag(raw, "ledger"),
            summary_file=raw["summary_file"].strip(),
            allow_remote=_flag(raw, "allow_remote"),
        )


def _option(name: str) -> Option:
    return next(o for o in OPTIONS if dest(o) == name)


def _where(name: str) -> str:
    option = _option(name)
    return f"{option.flag} ({option.env})"


def _choice(raw: dict[str, str], name: str, kind: type[PayloadForm]) -> PayloadForm:
    try:
        return kind(raw[name].strip().lower())
    except ValueError:
        choices = ", ".join(k.value for k in kind)
        raise OptionsError(f"{_where(name)}: {raw[name]!r} is not one of {choices}") from None


def _number(
    raw: dict[str, str], name: str, low: float, high: float, *, integer: bool = False
) -> float:
    text = raw[name].strip()
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        kind = "an integer" if integer else "a number"
        raise OptionsError(f"{_where(name)}: {text!r} is not {kind}") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise OptionsError(f"{_where(name)}: {text} is outside {low:g}–{high:g}")
    return value


def _flag(raw: dict[str, str], name: str) -> bool:
    text = raw[name].strip().lower()
    if text in ("1", "on", "true", "yes"):
        return True
    if text in ("0", "off", "false", "no"):
        return False
    raise OptionsError(f"{_where(name)}: {text!r} is not on/off")


def _site(text: str) -> str:
    try:
        return check_name(text.strip(), "site")
    except ValueError as exc:
        raise OptionsError(f"{_where('site')}: {exc}") from None
