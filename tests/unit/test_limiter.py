from __future__ import annotations

import asyncio

from nexus.gateway.limiter import ConnectLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_a_burst_is_cut_to_the_rate() -> None:
    clock = FakeClock()
    limiter = ConnectLimiter(rate_per_s=5, concurrency=100, clock=clock)
    entered = 0

    async def attempt() -> None:
        nonlocal entered
        async with limiter:
            entered += 1

    tasks = [asyncio.create_task(attempt()) for _ in range(20)]
    for _ in range(10):
        await asyncio.sleep(0)
    assert entered == 5  # the one-second burst; the rest wait for tokens
    clock.now += 1.0
    await asyncio.sleep(0.25)  # the waiting task wakes and finds the refilled bucket
    for _ in range(10):
        await asyncio.sleep(0)
    assert entered == 10
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_concurrency_is_bounded() -> None:
    limiter = ConnectLimiter(rate_per_s=1000, concurrency=2)
    inside = peak = 0
    release = asyncio.Event()

    async def attempt() -> None:
        nonlocal inside, peak
        async with limiter:
            inside += 1
            peak = max(peak, inside)
            await release.wait()
            inside -= 1

    tasks = [asyncio.create_task(attempt()) for _ in range(6)]
    for _ in range(10):
        await asyncio.sleep(0)
    assert peak == 2
    release.set()
    await asyncio.gather(*tasks)
    assert limiter.attempts == 6
