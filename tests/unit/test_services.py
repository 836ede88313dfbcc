"""Services start in order, stop in reverse, and a failed start stops what had started."""

from __future__ import annotations

import asyncio

import pytest

from listbridge.services import Service, TaskService, start_all, stop_all


class Recorded(Service):
    def __init__(self, name: str, log: list[str], *, fails: bool = False) -> None:
        super().__init__()
        self.name = name
        self.log = log
        self.fails = fails

    async def _start(self) -> None:
        if self.fails:
            raise OSError("port taken")
        self.log.append(f"start {self.name}")

    async def _stop(self) -> None:
        self.log.append(f"stop {self.name}")


def test_started_in_order_and_stopped_in_reverse() -> None:
    log: list[str] = []
    services: list[Service] = [Recorded(name, log) for name in ("delivery", "spool", "smtp", "web")]

    async def run() -> None:
        await start_all(services)
        assert [s.health().state for s in services] == ["running"] * 4
        await stop_all(services)

    asyncio.run(run())
    assert log == [
        "start delivery",
        "start spool",
        "start smtp",
        "start web",
        "stop web",
        "stop smtp",
        "stop spool",
        "stop delivery",
    ]
    assert [s.health().ok for s in services] == [False] * 4


def test_a_service_that_cannot_start_stops_those_before_it_and_is_failed() -> None:
    log: list[str] = []
    services: list[Service] = [
        Recorded("delivery", log),
        Recorded("spool", log),
        Recorded("smtp", log, fails=True),
        Recorded("web", log),
    ]
    with pytest.raises(OSError):
        asyncio.run(start_all(services))
    assert log == ["start delivery", "start spool", "stop spool", "stop delivery"]
    assert [s.health().state for s in services] == ["stopped", "stopped", "failed", "created"]


def test_a_consumer_whose_task_ended_on_its_own_is_failed_until_stopped() -> None:
    async def crashes(_stop: asyncio.Event) -> None:
        raise RuntimeError("smarthost client bug")

    async def run() -> None:
        consumer = TaskService("delivery", crashes, lambda: None)
        await consumer.start()
        await asyncio.sleep(0)
        health = consumer.health()
        assert health.state == "failed" and "smarthost client bug" in health.detail
        with pytest.raises(RuntimeError):
            await consumer.stop()
        assert consumer.health().state == "stopped"

    asyncio.run(run())
