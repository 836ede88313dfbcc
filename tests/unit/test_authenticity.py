"""Forged and genuine posts: DMARC checked here (DKIM with dkimpy, SPF, the policy) against a
loopback DNS server, or taken from a trusted upstream's Authentication-Results."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from forum.config import DkimSettings, Settings
from forum.models import Post, PostStatus
from forum.site import Site
from mailgateway.incoming import authenticity, judging, processing, spooling
from mailgateway.outgoing.dkim_sign import DkimSigner
from mailgateway.text.parsing import parse_headers
from tests.corpus import require_corpus
from tests.dnsstub import DnsStub
from tests.support import make_community, make_member

LIST = "housing@lists.example.org"
SENDER_NET = "203.0.113.0/24"


@pytest.fixture
def dns_stub() -> Iterator[DnsStub]:
    with DnsStub() as stub:
        stub.add("_dmarc.council.example", "TXT", "v=DMARC1; p=reject; rua=mailto:dmarc@council.example")
        stub.add("council.example", "TXT", "v=spf1 include:_spf.council.example -all")
        stub.add("_spf.council.example", "TXT", f"v=spf1 ip4:{SENDER_NET} mx:council.example ~all")
        stub.add("council.example", "MX", "10 mx.council.example")
        stub.add("mx.council.example", "A", "192.0.2.25")
        stub.add("_dmarc.relaxed.example", "TXT", "v=DMARC1; p=none")
        yield stub


@pytest.fixture
def council_signer(tmp_path: Path, dns_stub: DnsStub) -> DkimSigner:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "council.pem"
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    signer = DkimSigner.from_settings(DkimSettings(key_file=str(path), selector="s1"), "council.example")
    assert signer is not None
    dns_stub.add("s1._domainkey.council.example", "TXT", signer.dns_record())
    return signer


@pytest.fixture
def site(make_settings: Callable[..., Settings], dns_stub: DnsStub) -> Site:
    return Site.from_settings(make_settings(smtp_in={"dns_servers": [dns_stub.address], "dns_timeout_seconds": 2.0}))


@pytest.fixture
def members(sessionmaker: sessionmaker[Session]) -> None:
    with sessionmaker.begin() as session:
        housing = make_community(session, "housing")
        for address in ("fiona@council.example", "bob@council.example", "pat@relaxed.example", "sam@nopolicy.example"):
            make_member(session, housing, address)


def message(sender: str, n: int, extra: str = "") -> bytes:
    return (
        f"From: {sender}\r\nTo: {LIST}\r\nSubject: Post {n}\r\nMessage-ID: <auth{n}@example.net>\r\n"
        f"Date: Sat, 28 Nov 2026 09:00:00 +0000\r\n{extra}MIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\nPlease pay the attached invoice today.\r\n"
    ).encode()


def author(raw: bytes) -> str:
    """The From address, read as the gateway reads it before the DMARC check."""
    return parse_headers(raw).from_addr or ""


def arrive(
    site: Site, sessionmaker: sessionmaker[Session], raw: bytes, mail_from: str, client_ip: str | None
) -> tuple[str, PostStatus | None]:
    """As the gateway does it: judge at DATA, spool, process; (DATA reply, the post's status)."""
    with sessionmaker() as session:
        [reply] = judging.judge(session, site, raw, mail_from, [LIST], client_ip)
    with sessionmaker.begin() as session:
        inbound_id = spooling.spool(session, raw, mail_from, [LIST], "smtp", client_ip=client_ip)
    with sessionmaker.begin() as session:
        processing.process(session, site, inbound_id)
    with sessionmaker() as session:
        status = session.scalar(select(Post.status).order_by(Post.id.desc()))
    return reply.line, status


def test_forged_facilitator_from_a_reject_domain_is_held(
    site: Site, sessionmaker: sessionmaker[Session], members: None
) -> None:
    raw = message("Fiona <fiona@council.example>", 1)
    reply, status = arrive(site, sessionmaker, raw, "fiona@council.example", "198.51.100.7")
    assert reply.startswith("250 2.6.0 held for moderation") and "dmarc=fail (p=reject)" in reply
    assert status is PostStatus.held
    with sessionmaker() as session:
        assert "SPF says fail for 198.51.100.7" in (session.scalar(select(Post.hold_reason)) or "")


def test_genuine_mail_passes_by_aligned_dkim_or_by_spf(
    site: Site, sessionmaker: sessionmaker[Session], members: None, council_signer: DkimSigner
) -> None:
    signed = council_signer.sign(message("Fiona <fiona@council.example>", 2))
    assert arrive(site, sessionmaker, signed, "fiona@council.example", "198.51.100.7") == (
        "250 2.0.0 message accepted for delivery",
        PostStatus.published,
    )
    from_mx = message("Bob <bob@council.example>", 3)  # not signed, but sent by a server the SPF names
    assert arrive(site, sessionmaker, from_mx, "bob@council.example", "192.0.2.25")[1] is PostStatus.published
    from_net = message("Bob <bob@council.example>", 4)
    assert arrive(site, sessionmaker, from_net, "bob@council.example", "203.0.113.9")[1] is PostStatus.published


def test_a_signature_that_breaks_in_transit_does_not_pass(
    site: Site, sessionmaker: sessionmaker[Session], members: None, council_signer: DkimSigner
) -> None:
    signed = council_signer.sign(message("Fiona <fiona@council.example>", 5)).replace(b"today", b"tomorrow")
    assert arrive(site, sessionmaker, signed, "fiona@council.example", "198.51.100.7")[1] is PostStatus.held


def test_domains_without_a_holding_policy_and_failed_lookups_behave_as_before(
    site: Site, sessionmaker: sessionmaker[Session], members: None, dns_stub: DnsStub
) -> None:
    assert (
        arrive(site, sessionmaker, message("sam@nopolicy.example", 6), "sam@nopolicy.example", "198.51.100.7")[1]
        is PostStatus.published
    ), "no DMARC record"
    assert (
        arrive(site, sessionmaker, message("pat@relaxed.example", 7), "pat@relaxed.example", "198.51.100.7")[1]
        is PostStatus.published
    ), "p=none"
    dns_stub.failing.add("_dmarc.council.example")
    assert (
        arrive(site, sessionmaker, message("bob@council.example", 8), "bob@council.example", "198.51.100.7")[1]
        is PostStatus.published
    ), "the DMARC lookup fails"


def test_without_the_client_address_spf_is_not_guessed(site: Site) -> None:
    raw = message("fiona@council.example", 9)
    finding = authenticity.check(raw, "fiona@council.example", None, site.settings.smtp_in, author(raw))
    assert finding.result == "none" and not finding.holds and "client's address" in finding.reason


def test_a_trusted_upstreams_dmarc_fail_is_decisive(site: Site, make_settings: Callable[..., Settings]) -> None:
    """Discourse's fixture: ``Authentication-Results: example.com; dmarc=fail``, held by
    Discourse when example.com is its trusted authserv-id."""
    raw = (require_corpus() / "discourse_receiver" / "emails" / "dmarc_fail.eml").read_bytes()
    trusting = make_settings(smtp_in={"trusted_authserv_ids": ["Example.com"]}).smtp_in
    assert authenticity.check(raw, "existing@bar.com", None, trusting, author(raw)).holds
    assert not authenticity.check(raw, "existing@bar.com", None, site.settings.smtp_in, author(raw)).holds, (
        "untrusted: ignored"
    )
    p_none = raw.replace(b"dmarc=fail", b"dmarc=fail (p=NONE sp=NONE dis=NONE) header.from=bar.com")
    assert not authenticity.check(p_none, "existing@bar.com", None, trusting, author(p_none)).holds
    microsoft = raw.replace(b"example.com; dmarc=fail", b"example.com; dmarc=fail action=oreject header.from=bar.com")
    assert authenticity.check(microsoft, "existing@bar.com", None, trusting, author(microsoft)).policy == "reject"


def test_reply_token_from_another_address_follows_the_policy(
    make_settings: Callable[..., Settings], sessionmaker: sessionmaker[Session], members: None
) -> None:
    from forum.posting import Draft, submit_post
    from mailgateway.addresses import reply_address

    for policy, expected in (("accept", "250 2.0.0"), ("hold", "250 2.6.0"), ("refuse", "550 5.7.1")):
        site = Site.from_settings(make_settings(smtp_in={"token_reply_from_other": policy}))
        with sessionmaker.begin() as session:
            post = submit_post(
                session,
                Draft(
                    community="housing",
                    author_email="fiona@council.example",
                    subject="Root",
                    body="Root post",
                    message_id=f"root-{policy}@x",
                ),
                site,
            ).post
            bob = session.scalar(select(Post.author_id).where(Post.id == post.id))
            assert bob is not None
            token_address = reply_address(site.signer, "housing", site.mail_domain, bob, post.id)
        raw = message("someone@forwarded.example", 10).replace(f"To: {LIST}".encode(), f"To: {token_address}".encode())
        with sessionmaker() as session:
            [reply] = judging.judge(session, site, raw, "someone@forwarded.example", [token_address])
        assert reply.line.startswith(expected), (policy, reply.line)


def test_spf_follows_includes_and_counts_lookups(site: Site, dns_stub: DnsStub) -> None:
    lookup = authenticity.dns_for(site.settings.smtp_in)
    assert authenticity.spf_result(lookup, "203.0.113.200", "x@council.example") == "pass"
    assert authenticity.spf_result(lookup, "192.0.2.25", "x@council.example") == "pass"
    assert authenticity.spf_result(lookup, "198.51.100.1", "x@council.example") == "fail"
    assert authenticity.spf_result(lookup, "198.51.100.1", "x@nopolicy.example") == "none"
    dns_stub.add("loop.example", "TXT", "v=spf1 include:loop.example -all")
    assert authenticity.spf_result(lookup, "198.51.100.1", "x@loop.example") == "permerror"
    dns_stub.add("macro.example", "TXT", "v=spf1 exists:%{ir}.list.macro.example -all")
    dns_stub.add("1.100.51.198.list.macro.example", "A", "127.0.0.2")
    assert authenticity.spf_result(lookup, "198.51.100.1", "x@macro.example") == "pass"


def test_organizational_domains_by_the_public_suffix_list() -> None:
    assert authenticity.org_domain("mail.council.gov.uk") == "council.gov.uk"
    assert authenticity.org_domain("a.b.example.org") == "example.org"
    # By the Public Suffix List, not by a rule of thumb: two councils never align, nor two sites
    # under a shared host; a suffix the list does not know counts as one.
    assert authenticity.org_domain("Mail.Cardiff.GOV.uk.") == "cardiff.gov.uk"
    assert not authenticity.aligned("cardiff.gov.uk", "swansea.gov.uk", "r")
    assert authenticity.org_domain("mail.stmarys.cardiff.sch.uk") == "stmarys.cardiff.sch.uk"  # *.sch.uk
    assert authenticity.org_domain("x.alice.github.io") == "alice.github.io"
    assert not authenticity.aligned("alice.github.io", "mallory.github.io", "r")
    assert authenticity.org_domain("mail.council.example") == "council.example"
    assert authenticity.org_domain("localhost") == "localhost"
    assert authenticity.aligned("mail.council.gov.uk", "council.gov.uk", "r")
    assert not authenticity.aligned("other.gov.uk", "council.gov.uk", "r")
    assert not authenticity.aligned("mail.council.gov.uk", "council.gov.uk", "s")


def test_an_upstreams_result_counts_only_for_the_domain_of_the_author_shown(
    make_settings: Callable[..., Settings],
) -> None:
    trusting = make_settings(smtp_in={"trusted_authserv_ids": ["mx.council.example"]}).smtp_in
    raw = message(
        "alice@council.example",
        11,
        "Authentication-Results: mx.council.example; "
        "dkim=pass header.d=evil.example; dmarc=pass header.from=evil.example\r\n",
    )
    finding = authenticity.check(raw, "mallory@evil.example", None, trusting, "alice@council.example")
    assert not finding.authenticated, finding
    vouched = message(
        "alice@council.example",
        12,
        "Authentication-Results: mx.council.example; "
        "dkim=pass header.d=mail.council.example (signature ok); dmarc=none header.from=council.example\r\n",
    )
    assert authenticity.check(vouched, "alice@council.example", None, trusting, "alice@council.example").authenticated
    untrusted = message(
        "alice@council.example", 13, "Authentication-Results: evil.example; dmarc=pass header.from=council.example\r\n"
    )
    assert not authenticity.check(untrusted, "x@evil.example", None, trusting, "alice@council.example").authenticated


def test_without_a_policy_spf_decides_whether_the_sender_may_be_answered(site: Site) -> None:
    raw = message("sam@nopolicy.example", 14)
    smtp_in = site.settings.smtp_in
    assert authenticity.check(raw, "sam@nopolicy.example", "198.51.100.7", smtp_in, author(raw)).result == "none"
    raw = message("bob@council.example", 15)
    assert authenticity.check(raw, "bob@council.example", "198.51.100.7", smtp_in, author(raw)).failed
    assert authenticity.check(raw, "bob@council.example", "192.0.2.25", smtp_in, author(raw)).authenticated


def test_a_trusted_list_servers_arc_record_vouches_for_the_author_it_rewrote(
    make_settings: Callable[..., Settings],
    sessionmaker: sessionmaker[Session],
    members: None,
    council_signer: DkimSigner,
    dns_stub: DnsStub,
) -> None:
    """A list checks Fiona's signed post, records that it passed, rewrites From, adds a
    footer (which breaks her signature) and seals it all with ARC."""
    keys: dict[str, rsa.RSAPrivateKey] = {}

    def sealed_by(sealer: str, n: int) -> bytes:
        if sealer not in keys:
            keys[sealer] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            public = (
                keys[sealer]
                .public_key()
                .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
            )
            dns_stub.add(f"arc._domainkey.{sealer}", "TXT", "v=DKIM1; k=rsa; p=" + base64.b64encode(public).decode())
        key = keys[sealer]
        original = council_signer.sign(message("Fiona <fiona@council.example>", n))
        listed = (
            (
                f"Authentication-Results: lists.{sealer}; dkim=pass header.d=council.example; "
                "dmarc=pass header.from=council.example\r\n"
            ).encode()
            + original.replace(
                b"From: Fiona <fiona@council.example>",
                f'From: "Fiona via Council" <council@{sealer}>\r\nX-Original-From: Fiona <fiona@council.example>\r\n'
                f"Reply-To: Fiona <fiona@council.example>\r\nList-Id: <council.{sealer}>".encode(),
            )
            + b"-- \r\nFooter\r\n"
        )
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return b"".join(dkim.arc_sign(listed, b"arc", sealer.encode(), pem, f"lists.{sealer}".encode())) + listed

    def site_trusting(*sealers: str) -> Site:
        return Site.from_settings(
            make_settings(
                smtp_in={
                    "dns_servers": [dns_stub.address],
                    "dns_timeout_seconds": 2.0,
                    "trusted_arc_sealers": list(sealers),
                }
            )
        )

    assert (
        arrive(
            site_trusting(), sessionmaker, sealed_by("sealer.example", 30), "bounces@sealer.example", "198.51.100.7"
        )[1]
        is PostStatus.held
    ), "her signature is broken and the list is not in her SPF"
    assert (
        arrive(
            site_trusting("sealer.example"),
            sessionmaker,
            sealed_by("sealer.example", 31),
            "bounces@sealer.example",
            "198.51.100.7",
        )[1]
        is PostStatus.published
    )
    other = sealed_by("other.example", 32)
    assert (
        arrive(site_trusting("sealer.example"), sessionmaker, other, "bounces@other.example", "198.51.100.7")[1]
        is PostStatus.held
    ), "a sealer nobody trusts says what it likes"
