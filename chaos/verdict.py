"""A run's verdict: every unmet expectation, as a sentence naming the device and the points."""

from __future__ import annotations

from collections.abc import Mapping

from chaos.ledger import LedgerReport
from chaos.scenario import Expectations, Service

MAX_NAMED = 10


def unmet(
    report: LedgerReport,
    expect: Expectations,
    replicas_reached: Mapping[str, int],
    replicas_at_end: Mapping[str, int] | None = None,
) -> list[str]:
    """The failures of a run (empty when every expectation holds).

    `replicas_at_end`: the replicas running when the timeline ended (for `replicas_at_end`).
    """
    failures: list[str] = []
    if report.lost > expect.lost:
        failures.append(f"lost {report.lost} acknowledged points (allowed {expect.lost})")
        for device in report.devices:
            if device.lost:
                ranges = ", ".join(str(r) for r in device.lost_seqs[:MAX_NAMED])
                more = " …" if len(device.lost_seqs) > MAX_NAMED else ""
                failures.append(f"  {device.device}: {device.lost} lost: {ranges}{more}")
    if report.duplicates > expect.duplicates:
        failures.append(f"{report.duplicates} duplicate rows (allowed {expect.duplicates})")
        for device in report.devices:
            if device.duplicated:
                keys = ", ".join(f"{t}@{ts}" for t, ts in device.duplicated_keys[:MAX_NAMED])
                failures.append(f"  {device.device}: {device.duplicated} duplicates: {keys}")
    if report.delivered < expect.min_delivered:
        failures.append(f"delivered {report.delivered} points, expected ≥ {expect.min_delivered}")
    p99 = report.latency_p99_ms
    if expect.latency_p99_ms is not None and p99 is not None and p99 > expect.latency_p99_ms:
        failures.append(f"latency p99 {p99:.0f} ms > {expect.latency_p99_ms:g} ms")
    if expect.max_gap_s is not None:
        for device in report.devices:
            if device.max_gap_s > expect.max_gap_s:
                failures.append(
                    f"{device.device}: acquisition gap {device.max_gap_s:.1f} s "
                    f"> {expect.max_gap_s:g} s (from ts {device.gap_at_ms})"
                )
    for service, wanted in expect.replicas_reached.items():
        reached = replicas_reached.get(Service(service).value, 0)
        if reached < wanted:
            failures.append(f"{service} reached {reached} replicas, expected {wanted}")
    for service, most in expect.replicas_at_end.items():
        name = Service(service).value
        if replicas_at_end is None or name not in replicas_at_end:
            failures.append(f"{name}: the replicas at the end of the timeline were not recorded")
            continue
        if replicas_at_end[name] > most:
            failures.append(
                f"{name} ran {replicas_at_end[name]} replicas at the end of the timeline, "
                f"expected at most {most} (not scaled back in)"
            )
    return failures
