"""Settings: a TOML file read into frozen dataclasses.

Every knob is declared exactly once, here, with its default and a one-line help text
(``field(metadata={"help": ...})``); a chat platform's, in its own module, which the
runtime registers before the file is read (:mod:`forum.chat_platforms`).
``config.example.toml`` documents them all and a test fails when a declared key is
missing from it, so the documentation cannot drift.
Relative paths in the file are taken relative to the file itself, so a site directory
can be moved or run from any working directory.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from forum import chat_platforms
from forum.errors import ConfigError

REQUIRED: Any = MISSING


def setting(default: Any, help: str) -> Any:  # noqa: A002 - "help" reads best at the call site
    """Declare a setting: its default (``REQUIRED`` for none) and what it is for."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True, kw_only=True)
class SiteSettings:
    name: str = setting("Listbridge", "Site name shown in mail footers and pages.")
    base_url: str = setting("http://127.0.0.1:8080", "Public URL of the web archive; links in mail point here.")
    mail_domain: str = setting(REQUIRED, "Domain of the list addresses (SLUG@mail_domain).")
    secret_key: str = setting(
        REQUIRED, "Secret for HMAC tokens (reply addresses, unsubscribe links); at least 16 characters."
    )
    old_secret_keys: list[str] = setting(
        [], "Previous secret keys, still accepted when verifying tokens (for rotation)."
    )
    operators: list[str] = setting(
        [],
        "Addresses of the site's operators: mail to postmaster@ and abuse@ on mail_domain is forwarded to them, and they are told of a message that could not be composed and was not sent, and of a chat copy that could not be sent for a reason no retry mends (empty: it is only logged, and postmaster@ mail kept in the database).",
    )


@dataclass(frozen=True, kw_only=True)
class DatabaseSettings:
    url: str = setting(
        "sqlite:///listbridge.db", "SQLAlchemy URL: sqlite:///FILE (embedded) or postgresql+psycopg://USER:PW@HOST/DB."
    )


@dataclass(frozen=True, kw_only=True)
class StorageSettings:
    path: str = setting("data", "Directory for attachment blobs.")


AUTHENTICATION_CHOICES = ("auto", "always", "never")


@dataclass(frozen=True, kw_only=True)
class SmtpInSettings:
    host: str = setting("127.0.0.1", "Address the inbound SMTP/LMTP server listens on.")
    port: int = setting(8025, "Port of the inbound SMTP/LMTP server.")
    protocol: str = setting("smtp", 'Inbound protocol: "smtp", or "lmtp" when Postfix hands mail over by LMTP.')
    max_message_bytes: int = setting(26_214_400, "Largest message accepted, in bytes (bigger ones get 552 5.3.4).")
    trusted_authserv_ids: list[str] = setting(
        [],
        "Authserv-ids of upstream MTAs whose Authentication-Results header is believed (their dmarc=fail holds a post); empty: verify DKIM, SPF and DMARC here.",
    )
    trusted_arc_sealers: list[str] = setting(
        [],
        "Domains (the d= of their ARC-Seal) of list servers and forwarders whose sealed record of how a message authenticated when they received it is believed: a pass they saw for the author's domain counts, though their changes broke the author's signature.",
    )
    dns_servers: list[str] = setting(
        [], 'Nameservers for DKIM, SPF and DMARC lookups, as "IP" or "IP:PORT"; empty: the system\'s resolver.'
    )
    dns_timeout_seconds: float = setting(
        5.0,
        "How long one DNS lookup may take; a lookup that fails lets the mail through as if the domain published no policy.",
    )
    token_reply_from_other: str = setting(
        "hold",
        'A reply to a member\'s reply address whose From is not one of their (proven) addresses: "hold" it until the member confirms it or a moderator approves it, "refuse" it, or "accept" it as the member\'s (the reply address alone then lets anyone who sees it post as them).',
    )
    require_authentication: str = setting(
        "auto",
        'Whether a post by email must prove its From domain (aligned DKIM or SPF, checked here or by a trusted upstream) to be published at once; unproven ones wait for the member to confirm or a moderator: "always", "never" (only a failing DMARC quarantine/reject policy holds), or "auto" (private communities, and every community once trusted_authserv_ids is set). A community may override it.',
    )
    reply_token_days: int = setting(
        365,
        "Days a member's reply address (SLUG+TOKEN@) works after the post it answers; an older one is refused with a sentence saying how to post instead.",
    )
    owner_mail_per_sender_per_hour: int = setting(
        5,
        "Messages one sender may have passed on to a community's facilitators (SLUG-owner@) in an hour; more are refused.",
    )
    max_recipients: int = setting(
        100,
        "Recipients one message may have; RCPT past this many gets 452 4.5.3 (the client sends the rest in another transaction).",
    )
    max_connections: int = setting(200, "SMTP connections open at once; one past this gets 421 4.7.0 and is closed.")
    max_connections_per_client: int = setting(
        20, "SMTP connections open at once from one client address; one past this gets 421 4.7.0 and is closed."
    )
    idle_timeout_seconds: float = setting(
        300.0, "A connection silent this long between commands is closed (421 4.4.2)."
    )
    shunt_after_seconds: float = setting(
        30.0,
        "A message whose processing takes longer than this is set aside (shunted) so the ones after it go on; `listbridge shunt list` shows them, `listbridge shunt retry ID` tries one again.",
    )


@dataclass(frozen=True, kw_only=True)
class AnswerSettings:
    per_address_per_hour: int = setting(
        5,
        "Mails an address gets in answer to something (a notice about mail it sent, a sign-in or confirmation link), per kind, in an hour; counted with case folded and +tag dropped.",
    )
    per_community_per_hour: int = setting(
        100,
        "Mails one community sends in answer to incoming mail (notices, confirmations, mail passed on to its facilitators) in an hour.",
    )
    per_site_per_hour: int = setting(
        1000,
        "Mails the whole site sends in answer to something in an hour; past it, answers are dropped (not delayed).",
    )


@dataclass(frozen=True, kw_only=True)
class SmtpOutSettings:
    host: str = setting("127.0.0.1", "Smarthost that relays outgoing mail.")
    port: int = setting(25, "Smarthost port.")
    starttls: bool = setting(False, "Upgrade the smarthost connection with STARTTLS.")
    username: str = setting("", "Smarthost login (empty: no authentication).")
    password: str = setting("", "Smarthost password.")
    connections: int = setting(8, "Concurrent connections to the smarthost (each reused for many messages).")
    timeout_seconds: float = setting(60.0, "Timeout for one SMTP command to the smarthost.")


@dataclass(frozen=True, kw_only=True)
class DeliverySettings:
    send_to_author: bool = setting(False, "Send a member a copy of their own posts.")
    attach_max_bytes: int = setting(
        5_242_880, "Attachments up to this size travel with the mail; larger ones are linked."
    )
    retry_base_seconds: float = setting(30.0, "First retry delay after a temporary failure; doubles each attempt.")
    retry_max_seconds: float = setting(3600.0, "Longest delay between two retries.")
    give_up_hours: float = setting(72.0, "Temporary failures become permanent after this long.")
    batch_size: int = setting(200, "Outbox items a worker claims at once.")
    claim_lease_seconds: float = setting(
        300.0,
        "How long a worker's claim keeps other workers off an outbox item: a worker that dies holds what it claimed this long, then another sends it.",
    )


@dataclass(frozen=True, kw_only=True)
class DkimSettings:
    key_file: str = setting(
        "", "PEM private key (RSA or Ed25519) that signs every outgoing message; empty: no DKIM signature."
    )
    selector: str = setting("listbridge", "DKIM selector: the public key is published at SELECTOR._domainkey.DOMAIN.")
    domain: str = setting(
        "", "Signing domain (d=); empty: [site] mail_domain, which is what keeps the From address aligned."
    )


@dataclass(frozen=True, kw_only=True)
class BounceSettings:
    threshold: float = setting(
        4.0,
        "Bounce score at which a member's mail stops: a hard bounce (unknown address) scores 2, a soft one 1, at most one a day.",
    )
    forget_after_days: int = setting(30, "A bounce score with no bounce for this many days starts again from zero.")


@dataclass(frozen=True, kw_only=True)
class ImapSettings:
    host: str = setting(
        "", "IMAP server to fetch list mail from (e.g. outlook.office365.com); empty: no IMAP ingestion."
    )
    port: int = setting(993, "IMAP port: 993 with tls, 143 without.")
    tls: bool = setting(True, "Connect with TLS (IMAPS); false for a server on loopback or a trusted network.")
    user: str = setting("", "IMAP login (the mailbox's address for Microsoft 365).")
    password: str = setting("", "IMAP password; leave empty when oauth2_token_command is set.")
    oauth2_token_command: str = setting(
        "", "Command whose output is an OAuth2 access token, run at each login (XOAUTH2, as Microsoft 365 requires)."
    )
    folder: str = setting("INBOX", "Folder the list mail arrives in.")
    processed_folder: str = setting(
        "Processed", "Folder a message is moved to once it is stored (created when missing)."
    )
    idle: bool = setting(True, "Wait for new mail with IDLE where the server offers it; otherwise (or false) poll.")
    poll_seconds: float = setting(
        60.0, "Seconds between checks when polling, and the longest IDLE wait before checking anyway."
    )
    reconnect_max_seconds: float = setting(
        300.0, "Longest pause between reconnection attempts (they back off from 1 s)."
    )


@dataclass(frozen=True, kw_only=True)
class ThreadingSettings:
    subject_match_days: int = setting(
        30,
        'A "Re:" subject joins a thread of the same community active within this many days; 0 turns subject matching off.',
    )


# Files that run when opened: the ones mail services (Outlook, Gmail) refuse to carry.
BLOCKED_EXTENSIONS = [
    "ade",
    "adp",
    "app",
    "bat",
    "chm",
    "cmd",
    "com",
    "cpl",
    "dll",
    "exe",
    "hta",
    "inf",
    "ins",
    "isp",
    "jar",
    "js",
    "jse",
    "lib",
    "lnk",
    "mde",
    "msc",
    "msi",
    "msp",
    "mst",
    "pif",
    "ps1",
    "reg",
    "scr",
    "sct",
    "shb",
    "sys",
    "vb",
    "vbe",
    "vbs",
    "vxd",
    "wsc",
    "wsf",
    "wsh",
]


@dataclass(frozen=True, kw_only=True)
class PostingSettings:
    edit_window_minutes: int = setting(
        30,
        "Minutes after posting in which an author may edit or delete their post on the web (0: never); copies already mailed are not recalled.",
    )
    reports_per_hour: int = setting(10, "Posts one member may report to the facilitators in an hour.")


@dataclass(frozen=True, kw_only=True)
class WebSettings:
    host: str = setting("127.0.0.1", "Address the web archive listens on.")
    port: int = setting(8080, "Port of the web archive.")
    trusted_proxies: int = setting(
        0, "Reverse proxies in front of the web server whose X-Forwarded-For/-Proto are trusted (0: none)."
    )
    processes: int = setting(
        0, "Processes serving the web archive, each using one core (0: one per core of this machine)."
    )
    threads: int = setting(
        4,
        "Request threads in each of those processes (on SQLite one of them computes a page at a time; the others wait, or send a download).",
    )
    accessibility_contact: str = setting(
        "",
        "Email address for accessibility problems and requests for another format, named on the accessibility statement (/accessibility); empty: postmaster@ on mail_domain.",
    )
    upload_max_files: int = setting(10, "Files one post from the web may attach (0: none).")
    upload_max_file_bytes: int = setting(
        10_485_760,
        "Largest file a post from the web may attach, in bytes; together a post's files may not pass what fits (base64-encoded) in [smtp_in] max_message_bytes, as a mailed post's cannot. Files over [delivery] attach_max_bytes reach email members as a link, as mailed ones do.",
    )
    upload_blocked_extensions: list[str] = setting(
        list(BLOCKED_EXTENSIONS),
        "File extensions (without the dot, any case) a post from the web may not attach: programs and scripts that run when opened, as mail services block them.",
    )
    upload_allowed_extensions: list[str] = setting(
        [], "When not empty, the only file extensions a post from the web may attach (still less the blocked ones)."
    )


@dataclass(frozen=True, kw_only=True)
class DigestSettings:
    hour: int = setting(7, "Hour (0-23) digests go out, in each member's own time zone, for members who chose no hour.")
    timezone: str = setting(
        "Europe/London",
        "The site's time zone (an IANA name such as Europe/London): times shown to visitors and to members who chose no zone, and when their digests go out.",
    )
    weekday: str = setting("monday", "Day weekly digests go out, at each member's hour.")
    schedule: bool = setting(
        True,
        "Send digests as they fall due from 'listbridge serve' (the scheduler role); among several processes one runs the schedule and the others stand by.",
    )


@dataclass(frozen=True, kw_only=True)
class LoggingSettings:
    level: str = setting("INFO", "Log level: DEBUG, INFO, WARNING or ERROR.")


@dataclass(frozen=True, kw_only=True)
class Settings:
    site: SiteSettings
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    smtp_in: SmtpInSettings = field(default_factory=SmtpInSettings)
    smtp_out: SmtpOutSettings = field(default_factory=SmtpOutSettings)
    answers: AnswerSettings = field(default_factory=AnswerSettings)
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    dkim: DkimSettings = field(default_factory=DkimSettings)
    bounces: BounceSettings = field(default_factory=BounceSettings)
    imap: ImapSettings = field(default_factory=ImapSettings)
    threading: ThreadingSettings = field(default_factory=ThreadingSettings)
    posting: PostingSettings = field(default_factory=PostingSettings)
    web: WebSettings = field(default_factory=WebSettings)
    # The sections of the registered chat platforms ([slack], [matrix], …) by platform name,
    # in this place in the file; each platform's module declares its own (forum.chat_platforms).
    chat: Mapping[str, Any] = field(default_factory=dict)
    digest: DigestSettings = field(default_factory=DigestSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)

    @property
    def storage_path(self) -> Path:
        return Path(self.storage.path)


def sections() -> dict[str, type]:
    """Section name → dataclass, in file order."""
    hints = get_type_hints(Settings)
    found: dict[str, type] = {}
    for f in fields(Settings):
        if f.name == "chat":
            found.update({platform.name: platform.settings for platform in chat_platforms.registered()})
        else:
            found[f.name] = hints[f.name]
    return found


def declared_keys() -> list[tuple[str, str, Any, str]]:
    """Every declared setting as (section, key, default, help); REQUIRED defaults are MISSING."""
    out = []
    for name, cls in sections().items():
        for f in fields(cls):
            default = f.default if f.default_factory is MISSING else f.default_factory()
            out.append((name, f.name, default, f.metadata.get("help", "")))
    return out


def _coerce(section: str, key: str, value: Any, kind: Any) -> Any:
    where = f"[{section}] {key}"
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"setting {where} must be true or false, not {value!r}")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"setting {where} must be a whole number, not {value!r}")
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"setting {where} must be a number, not {value!r}")
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"setting {where} must be a string, not {value!r}")
        return value
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"setting {where} must be a list of strings")
    return list(value)


def _build_section(section: str, cls: type, data: Any) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"[{section}] must be a table")
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown setting [{section}] {unknown[0]} (known: {', '.join(sorted(known))})")
    values = {}
    for f in fields(cls):
        if f.name in data:
            values[f.name] = _coerce(section, f.name, data[f.name], hints[f.name])
        elif f.default is MISSING and f.default_factory is MISSING:
            raise ConfigError(f"missing setting [{section}] {f.name}: {f.metadata['help']}")
    return cls(**values)


def _resolve_paths(raw: dict[str, Any], base: Path) -> None:
    """Make relative file paths absolute against the config file's directory."""
    db = raw.setdefault("database", {})
    url = db.get("url", DatabaseSettings.url)
    if isinstance(url, str) and url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        rest = url[len("sqlite:///") :]
        if rest and not rest.startswith(":memory:"):
            db["url"] = "sqlite:///" + str((base / rest).resolve())
    storage = raw.setdefault("storage", {})
    path = storage.get("path", StorageSettings.path)
    if isinstance(path, str):
        storage["path"] = str((base / path).resolve())
    dkim = raw.get("dkim", {})
    if isinstance(dkim, dict) and isinstance(dkim.get("key_file"), str) and dkim["key_file"]:
        dkim["key_file"] = str((base / dkim["key_file"]).resolve())


def _validate(settings: Settings) -> None:
    if len(settings.site.secret_key) < 16:
        raise ConfigError("setting [site] secret_key must be at least 16 characters")
    if settings.smtp_in.protocol not in ("smtp", "lmtp"):
        raise ConfigError(f'setting [smtp_in] protocol must be "smtp" or "lmtp", not {settings.smtp_in.protocol!r}')
    if settings.smtp_in.require_authentication not in AUTHENTICATION_CHOICES:
        raise ConfigError(
            'setting [smtp_in] require_authentication must be "auto", "always" or "never", '
            f"not {settings.smtp_in.require_authentication!r}"
        )
    if settings.smtp_in.reply_token_days < 1:
        raise ConfigError("setting [smtp_in] reply_token_days must be at least 1")
    if settings.smtp_in.token_reply_from_other not in ("accept", "hold", "refuse"):
        raise ConfigError(
            'setting [smtp_in] token_reply_from_other must be "accept", "hold" or "refuse", '
            f"not {settings.smtp_in.token_reply_from_other!r}"
        )
    if settings.imap.host and not settings.imap.user:
        raise ConfigError("setting [imap] host needs user (and password or oauth2_token_command)")
    if settings.smtp_out.connections < 1:
        raise ConfigError("setting [smtp_out] connections must be at least 1")
    if settings.web.processes < 0:
        raise ConfigError("setting [web] processes must be 0 (one per core) or more")
    if settings.posting.edit_window_minutes < 0:
        raise ConfigError("setting [posting] edit_window_minutes must be 0 (no editing) or more")
    if settings.posting.reports_per_hour < 1:
        raise ConfigError("setting [posting] reports_per_hour must be at least 1")
    if settings.web.threads < 1:
        raise ConfigError("setting [web] threads must be at least 1")
    if settings.web.upload_max_files < 0:
        raise ConfigError("setting [web] upload_max_files must be 0 (no files) or more")
    if settings.web.upload_max_file_bytes < 1:
        raise ConfigError("setting [web] upload_max_file_bytes must be at least 1")
    for platform in chat_platforms.registered():
        problem = platform.settings_problem(platform.options(settings))
        if problem:
            raise ConfigError(problem)
    _validate_digest(settings.digest)
    for address in settings.site.operators:
        if not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+", address):
            raise ConfigError(f"setting [site] operators: {address!r} is not an email address")
    if not settings.site.mail_domain or "@" in settings.site.mail_domain:
        raise ConfigError("setting [site] mail_domain must be a bare domain such as lists.example.org")


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _validate_digest(digest: DigestSettings) -> None:
    if not 0 <= digest.hour <= 23:
        raise ConfigError(f"setting [digest] hour must be from 0 to 23, not {digest.hour}")
    if digest.weekday not in WEEKDAYS:
        raise ConfigError(f"setting [digest] weekday must be one of {', '.join(WEEKDAYS)}, not {digest.weekday!r}")
    try:
        ZoneInfo(digest.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"setting [digest] timezone {digest.timezone!r} is not a time zone name such as Europe/London"
        ) from None


def from_dict(raw: dict[str, Any], base: Path | None = None) -> Settings:
    """Settings from an already-parsed TOML document (tests build sites this way)."""
    raw = {k: dict(v) if isinstance(v, dict) else v for k, v in raw.items()}
    _resolve_paths(raw, base or Path.cwd())
    known = sections()
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigError(f"unknown section [{unknown[0]}] (known: {', '.join(known)})")
    if "site" not in raw:
        raise ConfigError("missing section [site] (it needs at least mail_domain and secret_key)")
    built = {name: _build_section(name, cls, raw.get(name, {})) for name, cls in known.items()}
    chat = {name: built.pop(name) for name in chat_platforms.names()}
    settings = Settings(**built, chat=chat)
    _validate(settings)
    return settings


def load(path: str | os.PathLike[str] | None = None) -> Settings:
    """Read the TOML file at ``path`` (or ``$LISTBRIDGE_CONFIG``)."""
    if path is None:
        path = os.environ.get("LISTBRIDGE_CONFIG")
        if not path:
            raise ConfigError("no configuration file: pass --config FILE or set LISTBRIDGE_CONFIG")
    p = Path(path)
    try:
        with p.open("rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"configuration file {p} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {p}: {exc.strerror}") from None
    return from_dict(raw, base=p.resolve().parent)
