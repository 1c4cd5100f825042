"""Errors of the chaos targets (part of NEXUS Edge's hierarchy, nexus/errors.py).

NexusError
└── TargetError               a target could not do what a scenario asked; names what failed
    ├── NotSupportedOnTarget  the fault exists, but this target cannot inject it
    └── TargetUnavailable     the target cannot run here at all (no Docker, no cluster, …)
"""

from __future__ import annotations

from nexus.errors import NexusError


class TargetError(NexusError):
    """A chaos target failed to apply a fault, start, observe or stop."""


class NotSupportedOnTarget(TargetError):
    """A fault this target cannot inject: the scenario is reported as not runnable here."""

    def __init__(self, target: str, what: str, why: str) -> None:
        self.target = target
        self.what = what
        self.why = why
        super().__init__(f"{what} is not supported on the {target} target: {why}")


class TargetUnavailable(TargetError):
    """The target's prerequisites are missing on this machine (one plain sentence, no trace)."""
