"""The services a site's settings imply, built once per process and passed to the core."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from forum.blobs import BlobStore
from forum.config import Settings
from forum.tokens import Signer


@dataclass(frozen=True)
class Site:
    settings: Settings
    signer: Signer
    blobs: BlobStore

    @classmethod
    def from_settings(cls, settings: Settings) -> Site:
        return cls(
            settings=settings,
            signer=Signer(settings.site.secret_key, tuple(settings.site.old_secret_keys)),
            blobs=BlobStore(settings.storage_path / "blobs"),
        )

    @property
    def mail_domain(self) -> str:
        return self.settings.site.mail_domain

    def owner_address(self, slug: str) -> str:
        """The address that reaches a community's facilitators (never their own addresses)."""
        return f"{slug}-owner@{self.mail_domain}"

    def url(self, path: str) -> str:
        """An absolute link for mail and chat: the configured public address (never a
        request's Host header, which a visitor controls) followed by ``path``."""
        return self.settings.site.base_url.rstrip("/") + path

    def new_message_id(self) -> str:
        """A globally unique Message-ID (bare, without <>) on the list domain."""
        return f"{uuid.uuid4().hex}@{self.mail_domain}"
