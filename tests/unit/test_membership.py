from __future__ import annotations

import json
from collections import Counter

from nexus.gateway.membership import Membership, owner

DEVICES = [f"plc-{i:03d}" for i in range(600)]


def announce(state: str, gw: str, group: str = "default") -> bytes:
    return json.dumps({"state": state, "gw": gw, "ts": 1, "group": group}).encode()


def test_devices_spread_evenly_and_only_the_dead_members_devices_move() -> None:
    members = ["gw-a", "gw-b", "gw-c"]
    before = {d: owner(d, members) for d in DEVICES}
    counts = Counter(before.values())
    assert all(150 <= n <= 250 for n in counts.values()), counts
    after = {d: owner(d, ["gw-a", "gw-c"]) for d in DEVICES}
    moved = [d for d in DEVICES if before[d] != after[d]]
    assert moved
    assert all(before[d] == "gw-b" for d in moved)  # nobody else's devices move
    assert owner("x", []) is None


def test_membership_follows_announcements_of_its_group_only() -> None:
    view = Membership("gw-a", "line1")
    assert view.update("status/gateway/gw-b", announce("online", "gw-b", "line1"))
    assert not view.update("status/gateway/gw-c", announce("online", "gw-c", "line2"))
    assert view.members == {"gw-a", "gw-b"}
    assert view.update("status/gateway/gw-b", announce("offline", "gw-b", "line1"))
    assert view.members == {"gw-a"}
    assert not view.update("status/gateway/gw-a", announce("offline", "gw-a", "line1"))
    assert view.members == {"gw-a"}  # a stale retained "offline" of our own never evicts us
    assert not view.update("status/gateway/gw-d", b"{not json")
    assert all(view.owns(d) for d in DEVICES[:50])
