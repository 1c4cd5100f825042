"""Plays a scenario's timeline on a target, samples it once a second, and checks the ledger.

    result = await run_scenario(scenario, target, on_sample=print_line)

The target is started and stopped here, whatever happens in between. After the timeline the
gateways are stopped (their ledgers are complete) and the ingest drains until the historian
holds as many rows as points were acknowledged (or `drain_timeout_s` passes); then the ledger
is checked against every expectation.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from chaos.ledger import LedgerReport, check, read_acked
from chaos.scenario import Action, Component, Fault, Scenario, Service
from chaos.series import SecondStats, per_second
from chaos.target import Target
from chaos.verdict import unmet

logger = logging.getLogger(__name__)

SAMPLE_EVERY_S = 1.0


@dataclass(frozen=True)
class Sample:
    """What the run looked like at `elapsed_s` (one per second)."""

    elapsed_s: float
    published: int
    stored: int | None
    replicas: dict[str, int]
    faults: list[str]
    phase: str


def progress_line(sample: Sample, prefix: str = "") -> str:
    """One line of a run's progress view: phase, published, stored, replicas, active faults."""
    stored = "-" if sample.stored is None else str(sample.stored)
    replicas = " ".join(f"{k}={v}" for k, v in sample.replicas.items())
    faults = "; ".join(sample.faults) or "none"
    return (
        f"[{prefix}{sample.elapsed_s:6.1f}s] {sample.phase:5} published {sample.published:7d} "
        f"stored {stored:>7} {replicas} faults: {faults}"
    )


@dataclass
class FaultEvent:
    label: str
    action: str
    target: str
    start_s: float
    end_s: float | None = None
    error: str | None = None


@dataclass
class RunResult:
    scenario: str
    scale: float
    passed: bool
    failures: list[str]
    ledger: LedgerReport
    start_ms: int
    load_end_ms: int
    end_ms: int
    drain_s: float
    samples: list[Sample] = field(default_factory=list)
    events: list[FaultEvent] = field(default_factory=list)
    replicas_reached: dict[str, int] = field(default_factory=dict)
    replicas_at_end: dict[str, int] = field(default_factory=dict)
    series: list[SecondStats] = field(default_factory=list)
    ledger_dir: str | None = None

    def summary(self) -> dict[str, object]:
        """The one-line JSON of `nexus scenario run --json`."""
        p99 = self.ledger.latency_p99_ms
        return {
            "scenario": self.scenario,
            "passed": self.passed,
            "delivered": self.ledger.delivered,
            "lost": self.ledger.lost,
            "duplicates": self.ledger.duplicates,
            "latency_p99_ms": round(p99, 1) if p99 is not None else None,
            "max_gap_s": round(self.ledger.max_gap_s, 3),
        }


Hook = Callable[[Target], Awaitable[None]]


class _Run:
    def __init__(self, scenario: Scenario, target: Target) -> None:
        self.scenario = scenario
        self.target = target
        self.loop = asyncio.get_running_loop()
        self.t0 = self.loop.time()
        self.events: list[FaultEvent] = []
        self.samples: list[Sample] = []
        self.active: dict[int, str] = {}
        self.phase = "load"
        self.reached = {s.value: 0 for s in Service}

    def elapsed(self) -> float:
        return self.loop.time() - self.t0

    async def sampler(self, on_sample: Callable[[Sample], None] | None) -> None:
        next_at = self.t0
        while True:
            next_at += SAMPLE_EVERY_S
            await asyncio.sleep(max(0.0, next_at - self.loop.time()))
            replicas = {s.value: self.target.replicas(s) for s in Service}
            for name, count in replicas.items():
                self.reached[name] = max(self.reached[name], count)
            sample = Sample(
                elapsed_s=round(self.elapsed(), 1),
                published=self.target.published(),
                stored=await self.target.stored_count(),
                replicas=replicas,
                faults=sorted(self.active.values()),
                phase=self.phase,
            )
            self.samples.append(sample)
            if on_sample is not None:
                on_sample(sample)

    async def play(self, fault: Fault) -> None:
        await asyncio.sleep(max(0.0, self.t0 + fault.at - self.loop.time()))
        event = FaultEvent(fault.label(), fault.action.value, fault.target, self.elapsed())
        self.events.append(event)
        self.active[id(event)] = fault.label()
        logger.info("t=%.1fs fault: %s", event.start_s, event.label)
        try:
            await self._apply(fault)
            if fault.duration is not None:
                await asyncio.sleep(
                    max(0.0, self.t0 + fault.at + fault.duration - self.loop.time())
                )
            await self._revert(fault)
        except Exception as exc:  # reported in the result; the run goes on
            logger.exception("fault %s failed", fault.label())
            event.error = f"{type(exc).__name__}: {exc}"
        finally:
            event.end_s = self.elapsed()
            self.active.pop(id(event), None)
            logger.info("t=%.1fs fault over: %s", event.end_s, event.label)

    async def _apply(self, fault: Fault) -> None:
        t, replica = self.target, fault.replica or 0
        match fault.action:
            case Action.KILL:
                await t.kill(fault.component, replica)
            case Action.PAUSE:
                await t.pause(fault.component, replica)
            case Action.STOP | Action.RESTART:
                await t.stop_component(fault.component, replica)
            case Action.SCALE:
                assert fault.replicas is not None
                await t.scale(Service(fault.target), fault.replicas)
            case Action.NETWORK:
                await t.network_fault(fault.link, fault.network)
            case Action.DEVICE:
                assert fault.kind is not None
                await t.device_fault(fault.target, fault.kind, True, fault.params)

    async def _revert(self, fault: Fault) -> None:
        t, replica = self.target, fault.replica or 0
        match fault.action:
            case Action.KILL | Action.STOP if fault.duration is not None:
                await t.start_component(fault.component, replica)
            case Action.RESTART:
                await t.start_component(fault.component, replica)
            case Action.PAUSE:
                await t.resume(fault.component, replica)
            case Action.NETWORK:
                await t.network_fault(fault.link, None)
            case Action.DEVICE:
                assert fault.kind is not None
                await t.device_fault(fault.target, fault.kind, False, fault.params)


async def run_scenario(
    scenario: Scenario,
    target: Target,
    *,
    on_sample: Callable[[Sample], None] | None = None,
    before_check: Hook | None = None,
) -> RunResult:
    """Start `target`, play the timeline, stop the load, drain, check; always stop `target`."""
    await target.start()
    try:
        return await _run(scenario, target, on_sample, before_check)
    finally:
        await target.stop()


async def _run(
    scenario: Scenario,
    target: Target,
    on_sample: Callable[[Sample], None] | None,
    before_check: Hook | None,
) -> RunResult:
    run = _Run(scenario, target)
    start_ms = time.time_ns() // 1_000_000
    logger.info("scenario %s: %.0fs at scale %g", scenario.name, scenario.run_s, scenario.scale)
    sampler = asyncio.create_task(run.sampler(on_sample), name="scenario:sampler")
    try:
        async with asyncio.TaskGroup() as group:
            for fault in scenario.faults():
                group.create_task(run.play(fault), name=f"fault:{fault.label()}")
            group.create_task(asyncio.sleep(scenario.run_s))
        run.phase = "drain"
        load_end_ms = time.time_ns() // 1_000_000
        at_end = {s.value: target.replicas(s) for s in Service}
        await target.stop_load()
        drain_began = run.loop.time()
        acked = read_acked(target.ledger_files())
        await _drain(target, len({p.key for p in acked}), scenario.drain_timeout_s)
        drain_s = run.loop.time() - drain_began
    finally:
        sampler.cancel()
        await asyncio.gather(sampler, return_exceptions=True)
    if before_check is not None:
        await before_check(target)
    rows = await target.stored_rows()
    report = check(acked, rows, window_ms=(start_ms, load_end_ms))
    # Every component the timeline took away is expected back: replicas_reached counts the
    # most that ran at once.
    failures = unmet(report, scenario.expect, run.reached, at_end)
    failures += [f"fault {e.label!r} failed: {e.error}" for e in run.events if e.error]
    result = RunResult(
        scenario=scenario.name,
        scale=scenario.scale,
        passed=not failures,
        failures=failures,
        ledger=report,
        start_ms=start_ms,
        load_end_ms=load_end_ms,
        end_ms=time.time_ns() // 1_000_000,
        drain_s=round(drain_s, 1),
        samples=run.samples,
        events=run.events,
        replicas_reached=run.reached,
        replicas_at_end=at_end,
        series=per_second(
            acked,
            rows,
            start_ms,
            time.time_ns() // 1_000_000,
            {int(s.elapsed_s): s.replicas for s in run.samples},
        ),
    )
    logger.info(
        "scenario %s: %s, delivered %d, lost %d, duplicates %d",
        scenario.name,
        "passed" if result.passed else "FAILED",
        report.delivered,
        report.lost,
        report.duplicates,
    )
    return result


async def _drain(target: Target, expected: int, within_s: float) -> None:
    """Wait until the historian holds at least `expected` rows (or `within_s` passes)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while loop.time() < deadline:
        stored = await target.stored_count()
        if stored is not None and stored >= expected:
            return
        await asyncio.sleep(0.5)
    logger.warning("the historian did not reach %d rows within %.0fs", expected, within_s)


__all__ = ["Component", "FaultEvent", "RunResult", "Sample", "run_scenario"]
