"""The serving process's services' health, readable by the web servers it forked.

A forked server has only copies of its parent's services, frozen at the fork; ``/healthz``
served there must say how the parent's are now. The parent posts them to a page of memory
it shares with its children (anonymous, shared mapping made before the fork); a sequence
number, odd while a post is being written, lets a reader retry a torn read instead of
locking.
"""

from __future__ import annotations

import json
import mmap
from collections.abc import Mapping

from forum.health import Health

SIZE = 65536
_HEADER = 16  # sequence number, length of the JSON


class HealthBoard:
    def __init__(self) -> None:
        self._map = mmap.mmap(-1, SIZE)  # anonymous and shared: forked children see every post

    def post(self, services: Mapping[str, Health]) -> None:
        data = json.dumps({name: [h.state, h.detail] for name, h in services.items()}).encode()
        if len(data) > SIZE - _HEADER:
            return  # never with a site's handful of services
        sequence = self._sequence() + 1
        self._map[0:8] = sequence.to_bytes(8, "little")  # odd: being written
        self._map[_HEADER : _HEADER + len(data)] = data
        self._map[8:16] = len(data).to_bytes(8, "little")
        self._map[0:8] = (sequence + 1).to_bytes(8, "little")

    def read(self) -> dict[str, Health]:
        """The last post (empty before the first)."""
        for _ in range(100):
            before = self._sequence()
            if before % 2:
                continue
            length = int.from_bytes(self._map[8:16], "little")
            data = bytes(self._map[_HEADER : _HEADER + length])
            if self._sequence() == before:
                return {name: Health(*value) for name, value in json.loads(data).items()} if data else {}
        return {}

    def _sequence(self) -> int:
        return int.from_bytes(self._map[0:8], "little")
