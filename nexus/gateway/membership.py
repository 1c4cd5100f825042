"""Replicas share the fleet: membership from retained status topics, ownership by rendezvous hash.

Every replica of a gateway group announces itself on ``status/gateway/{id}`` (retained, with a
last will saying offline) and subscribes to ``status/gateway/+``. Its view of the live members of
its group decides which devices it polls: a device belongs to the member with the highest
``hash(member, device)`` (rendezvous or highest-random-weight hashing). When a member dies or
joins, only the devices whose highest weight changes move, and every replica computes the same
answer from the same member set, without talking to the others.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable

import msgspec

log = logging.getLogger(__name__)

GATEWAY_STATUS_FILTER = "status/gateway/+"


def weight(member: str, device: str) -> int:
    digest = hashlib.blake2b(f"{member}\x00{device}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def owner(device: str, members: Iterable[str]) -> str | None:
    """The member that owns `device` (None when there is no member)."""
    return max(members, key=lambda m: (weight(m, device), m), default=None)


class _Announcement(msgspec.Struct):
    state: str
    gw: str
    group: str | None = None


_decoder = msgspec.json.Decoder(_Announcement)


class Membership:
    """The live replicas of one gateway group, as this replica sees them."""

    def __init__(self, me: str, group: str) -> None:
        self.me = me
        self.group = group
        self.members: set[str] = {me}

    def update(self, topic: str, payload: bytes) -> bool:
        """Apply one status message; True when the member set changed."""
        member = topic.rsplit("/", 1)[-1]
        if member == self.me:
            return False  # we know our own state; an old retained "offline" must not evict us
        try:
            announcement = _decoder.decode(payload) if payload else None
        except msgspec.DecodeError:
            log.warning("ignoring an unreadable gateway status on %s", topic)
            return False
        alive = (
            announcement is not None
            and announcement.state == "online"
            and (announcement.group or "default") == self.group
        )
        before = set(self.members)
        if alive:
            self.members.add(member)
        else:
            self.members.discard(member)
        if self.members != before:
            log.info(
                "gateway group %s: %d members (%s)",
                self.group,
                len(self.members),
                ", ".join(sorted(self.members)),
            )
            return True
        return False

    def owns(self, device: str) -> bool:
        return owner(device, self.members) == self.me
