"""DKIM signatures (RFC 6376) on every message listbridge sends.

A signature by the list domain is what lets receivers trust ``From: "Alice via Housing"
<housing@lists.example.org>``: with it the From domain is DKIM-aligned for DMARC even when
the copy was relayed through a smarthost that SPF does not name. The signature covers the
headers a receiver acts on, our own ``List-*`` headers included (RFC 8058 requires
``List-Unsubscribe`` and ``List-Unsubscribe-Post`` to be signed for one-click
unsubscribe), and each is *over-signed* (named once more than it occurs) so nobody can add
a second From, Subject or List-Unsubscribe without breaking it.

Why not ``dkim.sign()`` from dkimpy, which verifies our mail in the tests and checks
incoming mail: every copy of a post is personal (its footer carries the member's own
unsubscribe link), so every copy has its own body hash and needs its own signature, one
private-key operation per member. dkimpy does RSA in pure Python, many times the rest of
a copy's cost; OpenSSL, through ``cryptography``, is a small fraction of that and
releases the GIL, so signing in the composing thread overlaps with sending on the event
loop (figures: bench/README.md). Ed25519 (RFC 8463) is cheaper still, but the largest
mailbox providers do not verify it yet, so RSA is the key to publish; ``key_file`` takes either. Only the header block is parsed; the body is hashed as
it is, after relaxed canonicalization.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from forum.config import DkimSettings
from forum.errors import ConfigError

# What a receiver acts on, in the order they are hashed. Those absent from a message are
# still named once (RFC 6376 §5.4.2): nobody can add them later.
SIGNED_HEADERS = (
    "from",
    "to",
    "cc",
    "reply-to",
    "subject",
    "date",
    "message-id",
    "in-reply-to",
    "references",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "auto-submitted",
    "precedence",
    "list-id",
    "list-post",
    "list-archive",
    "list-help",
    "list-owner",
    "list-subscribe",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "archived-at",
)
_FOLDING = re.compile(rb"\r\n(?=[ \t])")
_B64_LINE = 72


@dataclass(frozen=True)
class DkimSigner:
    """Signs messages for one domain and selector with one private key."""

    domain: str
    selector: str
    key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey

    @classmethod
    def from_settings(cls, settings: DkimSettings, mail_domain: str) -> DkimSigner | None:
        """The configured signer, or None when ``[dkim] key_file`` is empty."""
        if not settings.key_file:
            return None
        path = Path(settings.key_file)
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except OSError as exc:
            raise ConfigError(f"setting [dkim] key_file: cannot read {path}: {exc.strerror}") from None
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise ConfigError(
                f"setting [dkim] key_file: {path} is not an unencrypted PEM private key ({exc})"
            ) from None
        if not isinstance(key, (rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey)):
            raise ConfigError(
                f"setting [dkim] key_file: {path} holds a {type(key).__name__}; DKIM needs RSA or Ed25519"
            )
        if isinstance(key, rsa.RSAPrivateKey) and key.key_size < 1024:
            raise ConfigError(
                f"setting [dkim] key_file: {path} is a {key.key_size}-bit RSA key; receivers ignore "
                "keys under 1024 bits (RFC 8301), use 2048"
            )
        return cls(settings.domain or mail_domain, settings.selector, key)

    @property
    def algorithm(self) -> str:
        return "rsa-sha256" if isinstance(self.key, rsa.RSAPrivateKey) else "ed25519-sha256"

    def dns_record(self) -> str:
        """The TXT record to publish at ``SELECTOR._domainkey.DOMAIN``."""
        public = self.key.public_key()
        if isinstance(public, ed25519.Ed25519PublicKey):
            raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            return f"v=DKIM1; k=ed25519; p={base64.b64encode(raw).decode()}"
        der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"

    def sign(self, message: bytes) -> bytes:
        """``message`` (CRLF line endings, as composed) with a DKIM-Signature header in front."""
        head, _, body = message.partition(b"\r\n\r\n")
        fields = _header_fields(head + b"\r\n")
        counts = Counter(name for name, _ in fields.items)
        names = [name for name in SIGNED_HEADERS for _ in range(counts[name.encode()] + 1)]
        body_hash = base64.b64encode(hashlib.sha256(_relaxed_body(body)).digest()).decode()
        tags = (
            f"v=1; a={self.algorithm}; c=relaxed/relaxed; d={self.domain}; s={self.selector};\r\n"
            f" t={int(time.time())}; h={':'.join(names)};\r\n bh={body_hash};\r\n b="
        )
        signed = fields.canonical(names) + _relaxed_header(b"dkim-signature", tags.encode())
        signature = base64.b64encode(self._private_key_operation(signed)).decode()
        folded = "\r\n ".join(signature[i : i + _B64_LINE] for i in range(0, len(signature), _B64_LINE))
        return f"DKIM-Signature: {tags}{folded}\r\n".encode() + message

    def _private_key_operation(self, data: bytes) -> bytes:
        if isinstance(self.key, rsa.RSAPrivateKey):
            return self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        return self.key.sign(hashlib.sha256(data).digest())  # RFC 8463: Ed25519 over the SHA-256 hash


@dataclass(frozen=True)
class _Fields:
    """A header block as (lowercased name, raw value) pairs, in order."""

    items: tuple[tuple[bytes, bytes], ...]

    def canonical(self, names: list[str]) -> bytes:
        """Relaxed canonical form of the fields ``h=`` names: a repeated name takes the
        instances from the bottom up, and a name with none left adds nothing (§5.4.2)."""
        left: dict[bytes, list[bytes]] = {}
        for name, value in self.items:
            left.setdefault(name, []).append(value)
        out = []
        for wanted in names:
            values = left.get(wanted.encode())
            if values:
                out.append(_relaxed_header(wanted.encode(), values.pop()) + b"\r\n")
        return b"".join(out)


def _header_fields(head: bytes) -> _Fields:
    items = []
    for line in _FOLDING.sub(b"", head).split(b"\r\n"):
        name, colon, value = line.partition(b":")
        if colon:
            items.append((name.strip().lower(), value))
    return _Fields(tuple(items))


def _relaxed_header(name: bytes, value: bytes) -> bytes:
    """RFC 6376 §3.4.2: lowercase name, unfolded value, runs of blanks as one space, trimmed."""
    return name + b":" + b" ".join(value.replace(b"\r\n", b"").split())


def _relaxed_body(body: bytes) -> bytes:
    """RFC 6376 §3.4.4: runs of blanks as one space, none at line ends, no trailing empty lines.

    With bytes methods, not a regular expression: one visiting every character of a copy
    costs more than the rest of its signature.
    """
    if b"\t" in body:
        body = body.replace(b"\t", b" ")
    while b"  " in body:
        body = body.replace(b"  ", b" ")
    body = body.replace(b" \r\n", b"\r\n").rstrip(b"\r\n")
    return body + b"\r\n" if body else b""
