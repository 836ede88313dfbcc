"""Settings: a TOML file read into frozen dataclasses.

Every knob is declared exactly once, here, with its default and a one-line help text
(``field(metadata={"help": ...})``). ``config.example.toml`` documents them all and a test
fails when a declared key is missing from it, so the documentation cannot drift.
Relative paths in the file are taken relative to the file itself, so a site directory
can be moved or run from any working directory.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

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
    secret_key: str = setting(REQUIRED, "Secret for HMAC tokens (reply addresses, unsubscribe links); at least 16 characters.")
    old_secret_keys: list[str] = setting([], "Previous secret keys, still accepted when verifying tokens (for rotation).")


@dataclass(frozen=True, kw_only=True)
class DatabaseSettings:
    url: str = setting("sqlite:///listbridge.db", "SQLAlchemy URL: sqlite:///FILE (embedded) or postgresql+psycopg://USER:PW@HOST/DB.")


@dataclass(frozen=True, kw_only=True)
class StorageSettings:
    path: str = setting("data", "Directory for attachment blobs.")


@dataclass(frozen=True, kw_only=True)
class SmtpInSettings:
    host: str = setting("127.0.0.1", "Address the inbound SMTP/LMTP server listens on.")
    port: int = setting(8025, "Port of the inbound SMTP/LMTP server.")
    protocol: str = setting("smtp", 'Inbound protocol: "smtp", or "lmtp" when Postfix hands mail over by LMTP.')
    max_message_bytes: int = setting(26_214_400, "Largest message accepted, in bytes (bigger ones get 552 5.3.4).")


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
    attach_max_bytes: int = setting(5_242_880, "Attachments up to this size travel with the mail; larger ones are linked.")
    retry_base_seconds: float = setting(30.0, "First retry delay after a temporary failure; doubles each attempt.")
    retry_max_seconds: float = setting(3600.0, "Longest delay between two retries.")
    give_up_hours: float = setting(72.0, "Temporary failures become permanent after this long.")
    batch_size: int = setting(200, "Outbox items a worker claims at once.")


@dataclass(frozen=True, kw_only=True)
class ThreadingSettings:
    subject_match_days: int = setting(30, 'A "Re:" subject joins a thread of the same community active within this many days; 0 turns subject matching off.')


@dataclass(frozen=True, kw_only=True)
class WebSettings:
    host: str = setting("127.0.0.1", "Address the web archive listens on.")
    port: int = setting(8080, "Port of the web archive.")


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
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    threading: ThreadingSettings = field(default_factory=ThreadingSettings)
    web: WebSettings = field(default_factory=WebSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)

    @property
    def storage_path(self) -> Path:
        return Path(self.storage.path)


def sections() -> dict[str, type]:
    """Section name → dataclass, in file order."""
    hints = get_type_hints(Settings)
    return {f.name: hints[f.name] for f in fields(Settings)}


def declared_keys() -> list[tuple[str, str, Any, str]]:
    """Every declared setting as (section, key, default, help); REQUIRED defaults are MISSING."""
    out = []
    for name, cls in sections().items():
        for f in fields(cls):
            default = f.default if f.default_factory is MISSING else f.default_factory()  # type: ignore[misc]
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
        rest = url[len("sqlite:///"):]
        if rest and not rest.startswith(":memory:"):
            db["url"] = "sqlite:///" + str((base / rest).resolve())
    storage = raw.setdefault("storage", {})
    path = storage.get("path", StorageSettings.path)
    if isinstance(path, str):
        storage["path"] = str((base / path).resolve())


def _validate(settings: Settings) -> None:
    if len(settings.site.secret_key) < 16:
        raise ConfigError("setting [site] secret_key must be at least 16 characters")
    if settings.smtp_in.protocol not in ("smtp", "lmtp"):
        raise ConfigError(f'setting [smtp_in] protocol must be "smtp" or "lmtp", not {settings.smtp_in.protocol!r}')
    if settings.smtp_out.connections < 1:
        raise ConfigError("setting [smtp_out] connections must be at least 1")
    if not settings.site.mail_domain or "@" in settings.site.mail_domain:
        raise ConfigError("setting [site] mail_domain must be a bare domain such as lists.example.org")


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
    settings = Settings(**{name: _build_section(name, cls, raw.get(name, {})) for name, cls in known.items()})
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

