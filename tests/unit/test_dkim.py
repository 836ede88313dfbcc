"""Outbound DKIM: our signatures verify with dkimpy, a reference implementation, reading the
public key from a real (loopback) DNS server, and they break when what they cover changes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from sqlalchemy.orm import Session, sessionmaker

from forum.config import DkimSettings, Settings
from forum.directory import member_row, upsert_members
from forum.errors import ConfigError
from forum.models import utcnow
from forum.posting import Draft, submit_post
from forum.site import Site
from mailgateway.incoming.authenticity import Dns, _resolver
from mailgateway.outgoing.compose import compose_copy
from mailgateway.outgoing.delivery import DeliveryWorker
from mailgateway.outgoing.dkim_sign import DkimSigner
from mailgateway.outgoing.notices import compose_notice
from mailgateway.outgoing.post_views import CommunityInfo, PostView
from tests.dnsstub import DnsStub
from tests.support import SmtpSink, make_community

DOMAIN = "lists.example.org"


def write_key(path: Path, kind: str) -> Path:
    key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if kind == "rsa"
        else ed25519.Ed25519PrivateKey.generate()
    )
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return path


@pytest.fixture
def dns_stub() -> Iterator[DnsStub]:
    with DnsStub() as stub:
        yield stub


def signer_for(tmp_path: Path, kind: str, dns_stub: DnsStub) -> DkimSigner:
    signer = DkimSigner.from_settings(DkimSettings(key_file=str(write_key(tmp_path / f"{kind}.pem", kind))), DOMAIN)
    assert signer is not None
    dns_stub.add(f"listbridge._domainkey.{DOMAIN}", "TXT", signer.dns_record())
    return signer


def verifies(message: bytes, dns_stub: DnsStub) -> bool:
    lookup = Dns(_resolver((dns_stub.address,), 2.0))
    return dkim.verify(message, dnsfunc=lookup.dkim_key)


def a_copy(site: Site) -> bytes:
    view = PostView(
        id=7,
        community=CommunityInfo(1, "housing", "Housing Advice", "[Housing]"),
        thread_id=3,
        author_name="Zoë Adviser",
        author_email="zoe@council.example",
        message_id="q1@council.example",
        subject="Damp  and mould — what works?",
        created_at=utcnow(),
        text="Has anyone tried positive input ventilation?\n\n.leading dot line\n   \n",
        html="<p>Has anyone tried <b>positive input ventilation</b>?</p>",
        in_reply_to="root@council.example",
        references=("root@council.example",),
    )
    return compose_copy(view, site, user_id=42)


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
def test_a_signed_copy_verifies_with_dkimpy_through_dns(
    kind: str, tmp_path: Path, site: Site, dns_stub: DnsStub
) -> None:
    signer = signer_for(tmp_path, kind, dns_stub)
    signed = signer.sign(a_copy(site))
    assert signed.startswith(b"DKIM-Signature: v=1; a=" + signer.algorithm.encode())
    assert verifies(signed, dns_stub)
    assert (f"listbridge._domainkey.{DOMAIN}", "TXT") in dns_stub.queries


def test_signature_covers_the_list_headers_and_oversigns_them(tmp_path: Path, site: Site, dns_stub: DnsStub) -> None:
    signer = signer_for(tmp_path, "rsa", dns_stub)
    signed = signer.sign(a_copy(site))
    h = dkim.util.parse_tag_value(_signature_header(signed))[b"h"].decode().replace(" ", "").split(":")
    for name in ("from", "subject", "list-id", "list-unsubscribe", "list-unsubscribe-post", "list-post", "reply-to"):
        assert h.count(name) == 2, f"{name} signed once and over-signed once"

    head, _, body = signed.partition(b"\r\n\r\n")
    assert not verifies(head + b"\r\n\r\n" + body.replace(b"ventilation", b"ventilati0n"), dns_stub), "body changed"
    forged = head.replace(b"\r\nSubject:", b"\r\nSubject: Urgent: pay this invoice\r\nSubject:", 1)
    assert not verifies(forged + b"\r\n\r\n" + body, dns_stub), "a second Subject was added"
    unsub = head + b"\r\nList-Unsubscribe: <https://evil.example/>\r\n\r\n" + body
    assert not verifies(unsub, dns_stub), "a List-Unsubscribe was added"


def _signature_header(message: bytes) -> bytes:
    first = message.split(b"\r\n")
    value, i = [first[0].partition(b":")[2]], 1
    while first[i][:1] in (b" ", b"\t"):
        value.append(first[i])
        i += 1
    return b"".join(value)


def test_relaxed_canonicalization_survives_refolding_by_a_relay(tmp_path: Path, site: Site, dns_stub: DnsStub) -> None:
    signer = signer_for(tmp_path, "rsa", dns_stub)
    signed = signer.sign(a_copy(site))
    head, _, body = signed.partition(b"\r\n\r\n")
    refolded = head.replace(b"\r\nSubject: ", b"\r\nSubject:   \r\n\t", 1)
    assert verifies(refolded + b"\r\n\r\n" + body.replace(b"\r\n", b"  \r\n", 3) + b"\r\n\r\n", dns_stub)


def test_a_notice_is_signed_too(tmp_path: Path, site: Site, dns_stub: DnsStub) -> None:
    signer = signer_for(tmp_path, "rsa", dns_stub)
    notice = compose_notice(
        site,
        "zoe@council.example",
        {"subject": "Confirm", "text": "Reply to confirm.\n"},
        message_id="n1@lists.example.org",
    )
    assert verifies(signer.sign(notice), dns_stub)


def test_a_bad_key_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[dkim\] key_file: cannot read .*missing\.pem"):
        DkimSigner.from_settings(DkimSettings(key_file=str(tmp_path / "missing.pem")), DOMAIN)
    (tmp_path / "junk.pem").write_text("not a key")
    with pytest.raises(ConfigError, match=r"junk\.pem is not an unencrypted PEM private key"):
        DkimSigner.from_settings(DkimSettings(key_file=str(tmp_path / "junk.pem")), DOMAIN)
    assert DkimSigner.from_settings(DkimSettings(), DOMAIN) is None


def test_the_delivery_worker_signs_every_copy(
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    sessionmaker: sessionmaker[Session],
    smtp_sink: SmtpSink,
    dns_stub: DnsStub,
) -> None:
    key = write_key(tmp_path / "dkim.pem", "rsa")
    site = Site.from_settings(
        make_settings(
            smtp_out={"port": smtp_sink.port, "connections": 2}, dkim={"key_file": str(key), "selector": "lb1"}
        )
    )
    signer = DkimSigner.from_settings(site.settings.dkim, DOMAIN)
    assert signer is not None
    dns_stub.add(f"lb1._domainkey.{DOMAIN}", "TXT", signer.dns_record())
    with sessionmaker.begin() as session:
        community = make_community(session, "housing")
        upsert_members(session, community, [member_row(f"m{i}@council.example") for i in range(4)])
        submit_post(
            session,
            Draft(
                community="housing",
                author_email="m0@council.example",
                subject="Hello",
                body="Signed, sealed, delivered.",
            ),
            site,
        )

    async def run() -> None:
        worker, stop = DeliveryWorker(site, sessionmaker), asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        await asyncio.to_thread(smtp_sink.wait_for, 3)
        stop.set()
        await task

    asyncio.run(run())
    assert len(smtp_sink.messages) == 3
    assert all(verifies(m.raw, dns_stub) for m in smtp_sink.messages)
