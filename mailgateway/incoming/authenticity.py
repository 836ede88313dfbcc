"""Is a message really from the domain in its From line? DKIM, SPF and DMARC (RFC 7489), checked here.

Anyone can write ``From: facilitator@council.example``. The domain vouches for a message
with a DKIM signature aligned with it, or by naming the sending server in its SPF record
(aligned with the envelope sender): then the finding is ``pass``, and the caller may treat
the author as authenticated. A domain that publishes a DMARC policy of ``quarantine`` or
``reject`` also says: treat the rest as forged; such mail ``holds``. It, and mail whose
SPF fails outright, is ``failed``: never answered. Everything we cannot tell — a DNS lookup
that fails, no client address to check SPF against, a domain that publishes no DMARC
policy and whose SPF does not fail — is ``none``: neither vouched for nor
forged, so that sites without working DNS keep working. What follows from a finding is the
caller's decision (:mod:`.judging`).

Two ways to find out:

* **Trust an upstream MTA.** Behind Postfix with OpenDMARC, or reading a mailbox the
  provider has already checked, the receiving MTA's ``Authentication-Results`` header is
  the better witness (it saw the connection). Its authserv-id must be listed in
  ``[smtp_in] trusted_authserv_ids``; the MTA strips headers forged with its id. Only its
  results about the From domain count (:func:`trusted_result`); its ``dmarc=fail`` is
  decisive, unless it says the policy is ``none``.
* **Check here.** The DMARC record of the From domain (or of its organizational domain),
  then DKIM (dkimpy) and SPF (below, for the SMTP client's address), each aligned with the
  From domain. Lookups go through dnspython, to ``[smtp_in] dns_servers`` when set.

The organizational domain is approximated without the Public Suffix List: the last two
labels, or three under a two-letter country code whose second level is a registry's
(``council.gov.uk``, ``example.co.uk``). Stricter than the list at worst, never looser.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.policy import compat32
from functools import cache, lru_cache

import dkim
import dns.exception
import dns.nameserver
import dns.resolver
from publicsuffixlist import PublicSuffixList

from forum.config import SmtpInSettings
from mailgateway.addresses import split_address

log = logging.getLogger(__name__)

HOLDING_POLICIES = ("quarantine", "reject")
MAX_DKIM_SIGNATURES = 5
SPF_LOOKUP_LIMIT = 10  # RFC 7208 §4.6.4
SPF_VOID_LIMIT = 2


@dataclass(frozen=True)
class Finding:
    """What the check concluded about the From domain: ``pass`` (an aligned DKIM signature
    or SPF pass: the domain sent it), ``fail`` (its DMARC evaluation, or its SPF, says it
    did not), or ``none`` (nothing vouches for it either way, or we cannot tell)."""

    result: str
    domain: str = ""  # the From domain
    policy: str = ""  # the policy that applies: none, quarantine, reject ("" without a record)
    reason: str = ""  # for the log and the moderator

    @property
    def holds(self) -> bool:
        """Mail the From domain's owner asks receivers not to trust: hold it."""
        return self.result == "fail" and self.policy not in ("none", "")

    @property
    def authenticated(self) -> bool:
        return self.result == "pass"

    @property
    def failed(self) -> bool:
        """Shown to be forged: never answered (an answer would go to someone who did not write)."""
        return self.result == "fail"


class TempError(Exception):
    """A DNS lookup failed (timeout, SERVFAIL): the answer is unknown, not negative."""


class PermError(Exception):
    """A record is broken (two SPF records, too many lookups, bad syntax)."""


# DNS ----------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _resolver(servers: tuple[str, ...], timeout: float) -> dns.resolver.Resolver:
    """One resolver (and its cache) per configuration: judging a message at DATA and
    processing it a moment later ask the same questions."""
    if servers:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [_nameserver(s) for s in servers]
    else:
        try:
            resolver = dns.resolver.Resolver()
        except dns.resolver.NoResolverConfiguration:
            resolver = dns.resolver.Resolver(configure=False)  # no nameserver: every lookup fails softly
    resolver.lifetime = timeout
    resolver.cache = dns.resolver.LRUCache(4096)
    return resolver


def _nameserver(spec: str) -> dns.nameserver.Do53Nameserver:
    """``IP`` or ``IP:PORT`` (``[IPv6]:PORT``) as dnspython's nameserver."""
    host, port = spec.strip(), 53
    match = re.fullmatch(r"\[(.+)\]:(\d+)|([^:]+):(\d+)", host)
    if match:
        host, port = (match.group(1), int(match.group(2))) if match.group(1) else (match.group(3), int(match.group(4)))
    return dns.nameserver.Do53Nameserver(host, port)


@dataclass
class Dns:
    """The lookups DMARC, DKIM and SPF need, telling "none" from "could not find out"."""

    resolver: dns.resolver.Resolver
    failed: list[str] = field(default_factory=list)  # names whose lookup failed

    def _answer(self, name: str, rdtype: str) -> list[dns.rdata.Rdata]:
        try:
            return list(self.resolver.resolve(name, rdtype, search=False))
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except (dns.exception.DNSException, OSError) as exc:
            self.failed.append(f"{name} {rdtype}")
            raise TempError(f"{rdtype} lookup of {name} failed: {type(exc).__name__}") from None

    def txt(self, name: str) -> list[str]:
        return [b"".join(r.strings).decode("ascii", "replace") for r in self._answer(name, "TXT")]  # type: ignore[attr-defined]

    def addresses(self, name: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        found = []
        for rdtype in ("A", "AAAA"):
            found += [ipaddress.ip_address(r.address) for r in self._answer(name, rdtype)]  # type: ignore[attr-defined]
        return found

    def mx(self, name: str) -> list[str]:
        return [r.exchange.to_text(omit_final_dot=True) for r in self._answer(name, "MX")]  # type: ignore[attr-defined]

    def dkim_key(self, name: bytes, timeout: float = 5) -> bytes | None:
        """dkimpy's ``dnsfunc``: the TXT record of a key, None when there is none."""
        try:
            records = self.txt(name.decode("ascii").rstrip("."))
        except (TempError, UnicodeDecodeError):
            return None
        return records[0].encode() if records else None


def dns_for(settings: SmtpInSettings) -> Dns:
    return Dns(_resolver(tuple(settings.dns_servers), settings.dns_timeout_seconds))


# Domains ------------------------------------------------------------------------------


@cache
def _suffixes() -> PublicSuffixList:
    return PublicSuffixList()  # the list the package bundles: nothing is fetched at run time


def org_domain(domain: str) -> str:
    """The organizational domain (RFC 7489 §3.2): the registrable name by the Public Suffix
    List, so that ``mail.cardiff.gov.uk`` aligns with ``cardiff.gov.uk`` but not with
    ``swansea.gov.uk``, and one ``github.io`` site not with another."""
    name = domain.lower().rstrip(".")
    return _suffixes().privatesuffix(name) or name


def aligned(domain: str, from_domain: str, mode: str) -> bool:
    domain, from_domain = domain.lower().rstrip("."), from_domain.lower().rstrip(".")
    return domain == from_domain if mode == "s" else org_domain(domain) == org_domain(from_domain)


# The check ----------------------------------------------------------------------------


def check(raw: bytes, mail_from: str, client_ip: str | None, settings: SmtpInSettings, author: str) -> Finding:
    """Who vouches for one message's author: an upstream's word when trusted, else our own
    evaluation.

    ``author`` is the address the post will show, as the caller read it from the header
    block: its domain is the one checked, and a result about any other domain (a list
    server's, a forger's own) counts for nothing."""
    domain = split_address(author)[1] if "@" in author else ""
    if not domain:
        return Finding("none", reason="no From domain to check")
    dns_ = dns_for(settings)
    finding = trusted_result(raw, settings.trusted_authserv_ids, domain)
    if finding is None:
        if settings.trusted_authserv_ids:
            client_ip = None  # the SMTP client is the upstream MTA, not the sender: SPF would be about it
        try:
            finding = _evaluate(raw, domain, mail_from, client_ip, dns_)
        except TempError as exc:
            finding = Finding("none", domain, reason=f"cannot tell: {exc}")
    if finding.authenticated or not settings.trusted_arc_sealers:
        return finding
    return arc_vouches(raw, domain, settings.trusted_arc_sealers, dns_) or finding


def arc_vouches(raw: bytes, domain: str, sealers: list[str], dns_: Dns) -> Finding | None:
    """A pass for ``domain`` that a list server we trust recorded before it changed the message.

    A list that rewrites From, the subject or the footer breaks its author's signature; with
    ARC (RFC 8617) it records what it saw on arrival (``ARC-Authentication-Results``) and
    seals the record. A valid chain proves the records unaltered, not honest: only those of
    the sealers named in ``[smtp_in] trusted_arc_sealers`` count."""
    head = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]
    if not re.search(rb"^arc-seal\s*:", head, re.IGNORECASE | re.MULTILINE):
        return None
    try:
        chain, _results, why = dkim.arc_verify(raw, logger=log, dnsfunc=dns_.dkim_key)
    except dkim.DKIMException as exc:
        chain, why = dkim.CV_Fail, str(exc)
    if chain != dkim.CV_Pass:
        log.debug("ARC chain not valid: %s", why)
        return None
    trusted = {s.lower().rstrip(".") for s in sealers}
    headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
    sealer_of = {}
    for seal in headers.get_all("ARC-Seal", []):
        tags = _tags(" ".join(str(seal).split()))
        sealer_of[tags.get("i", "")] = tags.get("d", "").lower().rstrip(".")
    for record in headers.get_all("ARC-Authentication-Results", []):
        parts = _without_comments(" ".join(str(record).split())).split(";")
        instance = parts[0].partition("=")[2].strip()
        if sealer_of.get(instance) not in trusted or len(parts) < 2:
            continue
        authserv_id = parts[1].split()[0].lower() if parts[1].split() else ""
        seen = _upstream_finding(authserv_id, [_resinfo(p) for p in parts[2:]], domain, str(record))
        if seen is not None and seen.authenticated:
            return Finding("pass", domain, seen.policy, reason=f"ARC sealed by {sealer_of[instance]}: {seen.reason}")
    return None


def _evaluate(raw: bytes, domain: str, mail_from: str, client_ip: str | None, dns_: Dns) -> Finding:
    record = dmarc_record(dns_, domain)
    tags, where = record or ({}, domain)
    policy = (tags["sp"] if where != domain and "sp" in tags else tags.get("p", "none")).lower() if record else ""
    dkim_pass = _aligned_dkim(raw, domain, tags.get("adkim", "r"), dns_)
    if dkim_pass:
        return Finding("pass", domain, policy, reason=f"dkim=pass header.d={dkim_pass}")
    if client_ip is None:
        return Finding(
            "none",
            domain,
            policy,
            reason="no aligned DKIM signature, and SPF cannot be checked without the client's address",
        )
    spf = spf_result(dns_, client_ip, mail_from)
    spf_domain = mail_from.rpartition("@")[2].lower()
    spf_aligned = bool(spf_domain) and aligned(spf_domain, domain, tags.get("aspf", "r"))
    if spf == "pass" and spf_aligned:
        return Finding("pass", domain, policy, reason=f"spf=pass smtp.mailfrom={spf_domain}")
    if dns_.failed or spf == "temperror":
        return Finding("none", domain, policy, reason=f"cannot tell: lookup failed for {', '.join(dns_.failed)}")
    if record is None:
        if spf == "fail" and spf_aligned:
            return Finding(
                "fail",
                domain,
                "",
                reason=(f"spf=fail: {client_ip} may not send as {mail_from} ({domain} publishes no DMARC policy)"),
            )
        return Finding(
            "none",
            domain,
            "",
            reason=(
                f"{domain} publishes no DMARC policy, and neither an aligned DKIM signature nor SPF vouches for it"
            ),
        )
    return Finding(
        "fail",
        domain,
        policy,
        reason=(
            f"dmarc=fail (p={policy}) header.from={domain}: no aligned DKIM signature, "
            f"and SPF says {spf} for {client_ip} sending as {mail_from or '<>'}"
        ),
    )


def dmarc_record(dns_: Dns, domain: str) -> tuple[dict[str, str], str] | None:
    """(tags, domain it was found at): the From domain's record, else its organizational one."""
    for candidate in dict.fromkeys((domain, org_domain(domain))):
        records = [t for t in dns_.txt(f"_dmarc.{candidate}") if re.match(r"v\s*=\s*DMARC1\b", t, re.IGNORECASE)]
        if len(records) == 1:
            return _tags(records[0]), candidate
    return None


def _tags(record: str) -> dict[str, str]:
    tags = {}
    for part in record.split(";"):
        name, eq, value = part.partition("=")
        if eq:
            tags[name.strip().lower()] = value.strip()
    return tags


def _aligned_dkim(raw: bytes, domain: str, mode: str, dns_: Dns) -> str:
    """The d= of the first valid DKIM signature aligned with ``domain``, or ""."""
    head = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]
    if not re.search(rb"^dkim-signature\s*:", head, re.IGNORECASE | re.MULTILINE):
        return ""  # most mail: nothing to verify, and no need to read the message again
    try:
        verifier = dkim.DKIM(raw, logger=log)
    except dkim.DKIMException as exc:  # a header block dkimpy cannot read: no signature we can check
        log.debug("DKIM: unreadable message: %s", exc)
        return ""
    signatures = [v for k, v in verifier.headers if k.lower() == b"dkim-signature"][:MAX_DKIM_SIGNATURES]
    for idx, value in enumerate(signatures):
        d = _tags(value.decode("ascii", "replace")).get("d", "")
        if not d or not aligned(d, domain, mode):
            continue
        try:
            if verifier.verify(idx=idx, dnsfunc=dns_.dkim_key):
                return d.lower()
        except dkim.DKIMException as exc:
            log.debug("DKIM signature %d (d=%s) unusable: %s", idx, d, exc)
    return ""


def trusted_result(raw: bytes, trusted_ids: list[str], domain: str) -> Finding | None:
    """What an upstream MTA we trust wrote in ``Authentication-Results`` about ``domain``.

    Only results about the domain of the author we show count: ``dmarc`` with that
    ``header.from``, ``dkim=pass`` with an aligned ``header.d``, ``spf=pass`` with an aligned
    ``smtp.mailfrom``. A ``dmarc=pass header.from=evil.example`` says nothing about
    ``alice@council.example``. A ``dmarc=fail`` that names no domain still holds (a fail
    can only make us stricter). None: the upstream said nothing about this domain.
    """
    if not trusted_ids:
        return None
    trusted = {t.lower() for t in trusted_ids}
    headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
    for value in headers.get_all("Authentication-Results", []):
        parts = _without_comments(" ".join(str(value).split())).split(";")
        authserv_id = parts[0].split()[0].lower() if parts[0].split() else ""
        if authserv_id not in trusted:
            continue
        finding = _upstream_finding(authserv_id, [_resinfo(p) for p in parts[1:]], domain, str(value))
        if finding is not None:
            return finding
    return None


def _resinfo(text: str) -> tuple[str, str, dict[str, str]]:
    """(method, result, properties) of one ``method=result ptype.prop=value …`` clause."""
    words = text.split()
    if not words or "=" not in words[0]:
        return "", "", {}
    method, _, result = words[0].partition("=")
    props = {}
    for word in words[1:]:
        name, eq, val = word.partition("=")
        if eq:
            props[name.lower()] = val.strip('"').lower()
    return method.split("/")[0].lower(), result.lower(), props


def _domain_of(value: str) -> str:
    return value.rpartition("@")[2].rstrip(".")


def _upstream_finding(
    authserv_id: str, results: list[tuple[str, str, dict[str, str]]], domain: str, raw_header: str
) -> Finding | None:
    said = None
    for method, result, props in results:
        if method == "dmarc":
            header_from = _domain_of(props.get("header.from", ""))
            if header_from and header_from != domain:
                continue
            policy = _policy_word(
                props.get("policy.published-domain-policy")
                or props.get("p")
                or props.get("action")
                or _stated_policy(raw_header)
                or "unstated"
            )
            if result == "fail":
                return Finding(
                    "fail", domain, policy, reason=f"{authserv_id}: dmarc=fail (policy {policy}) header.from={domain}"
                )
            if not header_from:
                continue  # a pass must say for whom
            if result == "pass":
                return Finding("pass", domain, policy, reason=f"{authserv_id}: dmarc=pass header.from={domain}")
            said = Finding("none", domain, policy, reason=f"{authserv_id}: dmarc={result} header.from={domain}")
        elif method == "dkim" and result == "pass":
            d = _domain_of(props.get("header.d") or props.get("header.i", ""))
            if d and aligned(d, domain, "r"):
                return Finding("pass", domain, reason=f"{authserv_id}: dkim=pass header.d={d}")
        elif method == "spf" and result == "pass":
            d = _domain_of(props.get("smtp.mailfrom", ""))
            if d and aligned(d, domain, "r"):
                return Finding("pass", domain, reason=f"{authserv_id}: spf=pass smtp.mailfrom={d}")
    return said


def _stated_policy(text: str) -> str:
    """Microsoft 365 writes the policy outside any property: ``dmarc=fail action=oreject``
    or in a comment ``(p=NONE sp=NONE dis=NONE)``."""
    said = re.search(r"\b(?:p|action)\s*=\s*(\w+)", text[text.lower().find("dmarc") :], re.IGNORECASE)
    return said.group(1) if said else ""


def _policy_word(word: str) -> str:
    """Microsoft 365 writes ``action=oreject`` (override: reject) or ``pct.quarantine``."""
    word = word.lower()
    return next((p for p in ("reject", "quarantine", "none") if p in word), word)


def _without_comments(text: str) -> str:
    return re.sub(r"\([^()]*\)", " ", text)


# SPF (RFC 7208) -----------------------------------------------------------------------

_QUALIFIERS = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}


def spf_result(dns_: Dns, client_ip: str, mail_from: str) -> str:
    """pass, fail, softfail, neutral, none, permerror or temperror for MAIL FROM's domain."""
    domain = mail_from.rpartition("@")[2].strip().lower()
    if not domain:
        return "none"
    try:
        ip = ipaddress.ip_address(client_ip)
    except ValueError:
        return "permerror"
    budget = _Budget()
    try:
        return _check_host(dns_, ip, domain, mail_from, budget)
    except TempError:
        return "temperror"
    except PermError:
        return "permerror"


@dataclass
class _Budget:
    lookups: int = 0
    voids: int = 0

    def spend(self) -> None:
        self.lookups += 1
        if self.lookups > SPF_LOOKUP_LIMIT:
            raise PermError("more than 10 DNS lookups")

    def void(self, found: Sequence[object]) -> None:
        if not found:
            self.voids += 1
            if self.voids > SPF_VOID_LIMIT:
                raise PermError("more than 2 lookups found nothing")


def _check_host(
    dns_: Dns, ip: ipaddress.IPv4Address | ipaddress.IPv6Address, domain: str, sender: str, budget: _Budget
) -> str:
    records = [t for t in dns_.txt(domain) if t.lower() == "v=spf1" or t.lower().startswith("v=spf1 ")]
    if not records:
        return "none"
    if len(records) > 1:
        raise PermError(f"{domain} publishes {len(records)} SPF records")
    redirect = None
    for term in records[0].split()[1:]:
        name, eq, value = term.partition("=")
        if eq and re.fullmatch(r"[A-Za-z][\w.-]*", name):
            if name.lower() == "redirect":
                redirect = _expand(value, ip, domain, sender)
            continue  # exp= and unknown modifiers
        qualifier = term[0] if term[0] in _QUALIFIERS else "+"
        if _matches(dns_, ip, term.lstrip("+-~?"), domain, sender, budget):
            return _QUALIFIERS[qualifier]
    if redirect:
        budget.spend()
        result = _check_host(dns_, ip, redirect, sender, budget)
        if result == "none":
            raise PermError(f"redirect to {redirect}, which has no SPF record")
        return result
    return "neutral"


def _matches(
    dns_: Dns,
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
    mechanism: str,
    domain: str,
    sender: str,
    budget: _Budget,
) -> bool:
    kind, _, arg = mechanism.partition(":")
    kind, cidr = kind.lower(), ""
    if "/" in kind:
        kind, _, cidr = kind.partition("/")
    elif "/" in arg and kind in ("a", "mx"):
        arg, _, cidr = arg.partition("/")
    target = _expand(arg, ip, domain, sender) if arg else domain
    if kind == "all":
        return True
    if kind in ("ip4", "ip6"):
        try:
            return ip in ipaddress.ip_network(arg, strict=False)
        except ValueError:
            raise PermError(f"bad network {arg!r} in the SPF record of {domain}") from None
    if kind == "include":
        budget.spend()
        result = _check_host(dns_, ip, target, sender, budget)
        if result == "none":
            raise PermError(f"include:{target}, which has no SPF record")
        if result in ("temperror", "permerror"):
            raise PermError(result)
        return result == "pass"
    if kind in ("a", "mx"):
        budget.spend()
        hosts = dns_.mx(target)[:10] if kind == "mx" else [target]
        budget.void(hosts)
        found = [a for host in hosts for a in dns_.addresses(host)]
        budget.void(found)
        return any(ip in _network(a, cidr) for a in found)
    if kind == "exists":
        budget.spend()
        return bool(dns_.addresses(target))
    if kind == "ptr":
        budget.spend()
        return False  # RFC 7208 §5.5: "do not use"; treated as never matching
    raise PermError(f"unknown SPF mechanism {mechanism!r} in the record of {domain}")


def _network(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, cidr: str
) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """The address with the mechanism's prefix length (``a/24``, ``mx//64``)."""
    v4, _, v6 = cidr.partition("/")
    prefix = (v4 if address.version == 4 else v6) or str(address.max_prefixlen)
    return ipaddress.ip_network(f"{address}/{prefix}", strict=False)


def _expand(spec: str, ip: ipaddress.IPv4Address | ipaddress.IPv6Address, domain: str, sender: str) -> str:
    """SPF macros (RFC 7208 §7): %{s l o d i h v} with digits and ``r``, and %% %_ %-."""
    local, _, sender_domain = sender.rpartition("@")
    ip_text = str(ip) if ip.version == 4 else ".".join(ip.exploded.replace(":", ""))
    values = {
        "s": sender,
        "l": local or "postmaster",
        "o": sender_domain or domain,
        "d": domain,
        "i": ip_text,
        "h": domain,
        "v": "in-addr" if ip.version == 4 else "ip6",
    }

    def macro(match: re.Match[str]) -> str:
        letter, digits, reverse, delimiters = match.groups()
        if letter.lower() not in values:
            raise PermError(f"unknown SPF macro %{{{letter}}}")
        parts = re.split("[" + re.escape(delimiters or ".") + "]", values[letter.lower()])
        if reverse:
            parts.reverse()
        if digits:
            parts = parts[-int(digits) :]
        return ".".join(parts)

    expanded = re.sub(r"%\{([a-zA-Z])(\d*)(r?)([.\-+,/_=]*)\}", macro, spec)
    return expanded.replace("%%", "%").replace("%_", " ").replace("%-", "%20")
