"""A tiny authoritative DNS server on a loopback UDP port, for DKIM, SPF and DMARC tests.

Real lookups over a real socket (dnspython on both ends), so the code under test runs its
actual resolver path, timeouts and all, against records the test chooses::

    with DnsStub() as dns:
        dns.add("_dmarc.council.example", "TXT", "v=DMARC1; p=reject")
        settings = make_settings(smtp_in={"dns_servers": [dns.address]})

Names not added answer NXDOMAIN; names in ``failing`` answer SERVFAIL, as a broken
authoritative server does. :func:`empty_dns` is one stub with no records at all, shared by
every test (and every ``listbridge serve`` a test starts), so that no test asks the real
DNS and each lookup is answered at once.
"""

from __future__ import annotations

import socket
import threading
from functools import cache

import dns.message
import dns.name
import dns.rcode
import dns.rrset


class DnsStub:
    def __init__(self) -> None:
        self.records: dict[tuple[str, str], list[str]] = {}
        self.failing: set[str] = set()
        self.queries: list[tuple[str, str]] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="dns-stub", daemon=True)

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``, the form ``[smtp_in] dns_servers`` takes."""
        return f"127.0.0.1:{self._sock.getsockname()[1]}"

    def add(self, name: str, rdtype: str, *values: str) -> None:
        """TXT values are plain text (split into 255-byte strings here); MX values "10 host"."""
        self.records.setdefault((name.lower().rstrip("."), rdtype.upper()), []).extend(values)

    def __enter__(self) -> DnsStub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                wire, peer = self._sock.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            try:
                query = dns.message.from_wire(wire)
            except Exception:  # noqa: BLE001 - garbage on the port: ignore it
                continue
            self._sock.sendto(self._answer(query).to_wire(), peer)

    def _answer(self, query: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(query)
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        self.queries.append((name, rdtype))
        if name in self.failing:
            response.set_rcode(dns.rcode.SERVFAIL)
            return response
        values = self.records.get((name, rdtype))
        if values:
            texts = [_txt(v) for v in values] if rdtype == "TXT" else values
            response.answer.append(
                dns.rrset.from_text_list(question.name, 60, "IN", rdtype, texts, origin=dns.name.root, relativize=False)
            )
        elif not any(n == name for n, _ in self.records):
            response.set_rcode(dns.rcode.NXDOMAIN)
        return response


def _txt(value: str) -> str:
    """A TXT value in zone-file form: quoted strings of at most 255 bytes."""
    chunks = [value[i : i + 255] for i in range(0, len(value), 255)] or [""]
    return " ".join('"' + c.replace("\\", "\\\\").replace('"', '\\"') + '"' for c in chunks)


@cache
def empty_dns() -> str:
    """Address of a process-wide stub that knows no names (it lives as long as the tests)."""
    return DnsStub().__enter__().address
