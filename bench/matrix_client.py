"""The Matrix bridge's HTTP client against the client libraries, per message sent.

    python bench/matrix_client.py --messages 400

A real Synapse on loopback (the tests' virtualenv: ``python -m tests.matrix_synapse
build``), one room; each client sends ``--messages`` text events into it, as the chat
worker does: one at a time, from a thread that is not running an event loop. The
bridge's ``MatrixApi`` (urllib, a connection per request) is the baseline; mautrix's
``ClientAPI`` and matrix-nio's ``AsyncClient`` (aiohttp, a kept-alive connection) are
called the only way a worker thread can call them: through an event loop of their own in
another thread (``asyncio.run_coroutine_threadsafe``). mautrix is measured once more as a
coroutine worker would call it, a round's sends in one coroutine, to tell the library's
cost from the thread hop's. The clients take turns in four rounds, in alternating order,
so the homeserver's warming up and the machine's noise are shared. Prints each client's
wall time and CPU time (this process, all threads) per message, and their ratio to the
baseline. A library that is not installed is left out with the command that installs it
(neither is a dependency of the project).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bridges.matrix import MatrixApi
from bridges.platforms.matrix import MatrixSettings
from tests import matrix_synapse
from tests.matrix_synapse import Account, Synapse

ROUNDS = 4
WARM_UP = 10


class LoopThread:
    """An event loop in a thread of its own, for calling an asyncio library from a worker thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.closing: list[Callable[[], Coroutine[Any, Any, Any]]] = []  # the libraries' sessions

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def stop(self) -> None:
        for close in self.closing:
            self.run(close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()


# Each client is a function that sends ``count`` messages.
Sender = Callable[[int], None]


def one_by_one(send: Callable[[int], object]) -> Sender:
    def sends(count: int) -> None:
        for i in range(count):
            send(i)

    return sends


def ours(server: Synapse, relay: Account, room: str, loop: LoopThread) -> Sender:
    api = MatrixApi(MatrixSettings(homeserver=server.url, user_id=relay.user_id, access_token=relay.access_token))
    return one_by_one(
        lambda i: api.send(room, "m.room.message", {"msgtype": "m.text", "body": f"urllib {i}"}, uuid.uuid4().hex)
    )


def mautrix(server: Synapse, relay: Account, room: str, loop: LoopThread) -> Sender:
    from mautrix.api import HTTPAPI
    from mautrix.client.api import ClientAPI
    from mautrix.types import EventType

    async def make() -> ClientAPI:
        return ClientAPI(api=HTTPAPI(server.url, relay.access_token))

    client = loop.run(make())
    loop.closing.append(client.api.session.close)
    return one_by_one(
        lambda i: loop.run(
            client.send_message_event(
                room, EventType.ROOM_MESSAGE, {"msgtype": "m.text", "body": f"mautrix {i}"}, txn_id=uuid.uuid4().hex
            )
        )
    )


def mautrix_in_loop(server: Synapse, relay: Account, room: str, loop: LoopThread) -> Sender:
    """mautrix as an asyncio worker would call it: the sends of a round in one coroutine,
    no thread hop per message (what the bridge would cost if its workers were coroutines)."""
    from mautrix.api import HTTPAPI
    from mautrix.client.api import ClientAPI
    from mautrix.types import EventType

    async def make() -> ClientAPI:
        return ClientAPI(api=HTTPAPI(server.url, relay.access_token))

    client = loop.run(make())
    loop.closing.append(client.api.session.close)

    async def sends(count: int) -> None:
        for i in range(count):
            await client.send_message_event(
                room, EventType.ROOM_MESSAGE, {"msgtype": "m.text", "body": f"mautrix {i}"}, txn_id=uuid.uuid4().hex
            )

    return lambda count: loop.run(sends(count))


def nio(server: Synapse, relay: Account, room: str, loop: LoopThread) -> Sender:
    import nio

    async def make() -> nio.AsyncClient:
        # No retrying inside the library: the bridge's worker decides about retries.
        client = nio.AsyncClient(
            server.url, relay.user_id, config=nio.AsyncClientConfig(max_limit_exceeded=0, max_timeouts=0)
        )
        client.access_token = relay.access_token
        return client

    client = loop.run(make())
    loop.closing.append(client.close)

    def send(i: int) -> None:
        reply = loop.run(
            client.room_send(room, "m.room.message", {"msgtype": "m.text", "body": f"nio {i}"}, tx_id=uuid.uuid4().hex)
        )
        if not isinstance(reply, nio.RoomSendResponse):
            raise RuntimeError(f"matrix-nio: {reply}")

    return one_by_one(send)


CLIENTS = {
    "urllib (the bridge's MatrixApi)": (ours, None),
    "mautrix ClientAPI": (mautrix, "mautrix"),
    "matrix-nio AsyncClient": (nio, "nio"),
    "mautrix, no thread hop": (mautrix_in_loop, "mautrix"),
}
PACKAGES = {"mautrix": "mautrix", "nio": "matrix-nio"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=400, help="messages each client sends")
    args = parser.parse_args()
    venv = matrix_synapse.synapse_venv(may_build=False)
    if venv is None:
        raise SystemExit("no Synapse virtualenv: build it with 'python -m tests.matrix_synapse build'")
    available = {}
    for name, (factory, module) in CLIENTS.items():
        if module and importlib.util.find_spec(module) is None:
            print(f"{name}: not installed ('.venv/bin/pip install {PACKAGES[module]}'), left out")
        else:
            available[name] = factory
    loop = LoopThread()
    with tempfile.TemporaryDirectory() as directory, Synapse(venv, Path(directory) / "synapse") as server:
        relay = server.register("relay")
        created = server.call("POST", "/_matrix/client/v3/createRoom", relay.access_token, {"name": "bench"})
        room = str(created["room_id"])
        senders = {name: factory(server, relay, room, loop) for name, factory in available.items()}
        for sends in senders.values():
            sends(WARM_UP)
        spent = {name: [0.0, 0.0] for name in senders}
        per_round = max(1, args.messages // ROUNDS)
        for number in range(ROUNDS):
            order = list(senders.items())
            for name, sends in order if number % 2 == 0 else reversed(order):
                wall, cpu = time.perf_counter(), time.process_time()
                sends(per_round)
                spent[name][0] += time.perf_counter() - wall
                spent[name][1] += time.process_time() - cpu
    loop.stop()
    sent = per_round * ROUNDS
    base_wall, base_cpu = next(iter(spent.values()))
    print(f"{sent} messages each, one at a time, to Synapse on loopback")
    print(f"{'client':34} {'wall ms/msg':>12} {'ratio':>6} {'CPU ms/msg':>11} {'ratio':>6}")
    for name, (wall, cpu) in spent.items():
        print(
            f"{name:34} {wall / sent * 1000:12.2f} {wall / base_wall:6.2f} {cpu / sent * 1000:11.2f} "
            f"{cpu / base_cpu:6.2f}"
        )


if __name__ == "__main__":
    main()
