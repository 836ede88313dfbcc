"""Files attached to a post from the web: checked, kept across a preview, then posted.

A browser never fills a file input again, so a form shown back (a preview, or a mistake
to correct) would lose what was chosen. Each accepted file is stored at once in the blob
store, where mailed attachments go, and the form carries it back as a checkbox, ticked,
whose value is a token signed for this person: no script, nothing to choose twice, and a
file is left out by unticking it, which a screen reader announces like any checkbox. The
token names the file's hash, name and type, so a forged or someone else's token attaches
nothing. A file never posted leaves an unreferenced blob, which nobody can download:
downloads go by a post's attachment.

Limits are the site's ([web] upload_*; the total is what a mailed post may carry). A file
refused is said on the form, and the text and the other files are kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import request
from flask_babel import gettext as _
from flask_babel import ngettext
from itsdangerous import BadData, URLSafeTimedSerializer
from werkzeug.datastructures import FileStorage

from forum.files import extension, safe_filename, uploaded_type
from forum.posting import AttachmentData
from forum.site import Site
from web.i18n import file_size

FIELD = "attached"  # the checkboxes of the files kept
KEEP_SECONDS = 24 * 3600  # a form left open over a day attaches its files again


@dataclass(frozen=True)
class PendingFile:
    """A file stored for a post not yet sent; ``token`` is what the form carries back."""

    sha256: str
    filename: str
    content_type: str
    size: int
    token: str


@dataclass
class Attached:
    """The files a form carries and what was wrong with the ones refused."""

    files: list[PendingFile] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(f.size for f in self.files)

    def attachments(self, site: Site) -> tuple[AttachmentData, ...] | None:
        """The files' bytes for ``submit_post``; None (and an error said) when one is gone."""
        found = []
        for pending in self.files:
            try:
                data = site.blobs.get(pending.sha256)
            except FileNotFoundError:
                self.errors.append(_("“%(name)s” could not be found any more: attach it again.", name=pending.filename))
                return None
            found.append(AttachmentData(pending.filename, pending.content_type, data))
        return tuple(found)


def total_limit(site: Site) -> int:
    """What a post's files may add up to: what fits, base64-encoded as mail carries files,
    in a message of ``[smtp_in] max_message_bytes``, so a web post carries no more than a
    mailed one may."""
    return site.settings.smtp_in.max_message_bytes * 3 // 4


def _serializer(site: Site) -> URLSafeTimedSerializer:
    keys = [*site.settings.site.old_secret_keys, site.settings.site.secret_key]  # the last one signs
    return URLSafeTimedSerializer(keys, salt="listbridge.pending-upload")


def gathered(site: Site, user_id: int, uploads: list[FileStorage]) -> Attached:
    """The files kept from the form before (still ticked) and the new ``uploads``, checked."""
    attached = Attached()
    serializer = _serializer(site)
    for token in request.form.getlist(FIELD):
        try:
            owner, sha256, filename, content_type, size = serializer.loads(token, max_age=KEEP_SECONDS)
        except (BadData, ValueError, TypeError):
            attached.errors.append(_("A file attached earlier has expired: attach it again."))
            continue
        if owner == user_id and all(f.sha256 != sha256 or f.filename != filename for f in attached.files):
            attached.files.append(PendingFile(sha256, filename, content_type, size, token))
    for upload in uploads:
        if upload.filename or upload.content_length:  # an input left empty sends a nameless empty part
            _take(site, user_id, upload, attached, serializer)
    return attached


def _take(
    site: Site, user_id: int, upload: FileStorage, attached: Attached, serializer: URLSafeTimedSerializer
) -> None:
    settings = site.settings
    limit = settings.web.upload_max_file_bytes
    data = upload.stream.read(limit + 1)
    content_type = uploaded_type(upload.filename or "", data)
    name = safe_filename(upload.filename, len(attached.files) + 1, content_type)
    problem = _problem(site, name, len(data), attached)
    if problem:
        attached.errors.append(problem)
        return
    sha256 = site.blobs.put(data)
    token = serializer.dumps([user_id, sha256, name, content_type, len(data)])
    if all(f.sha256 != sha256 or f.filename != name for f in attached.files):
        attached.files.append(PendingFile(sha256, name, content_type, len(data), token))


def _problem(site: Site, name: str, size: int, attached: Attached) -> str:
    """Why the file ``name`` of ``size`` bytes cannot be attached ("" when it can)."""
    web = site.settings.web
    kind = extension(name)
    if size == 0:
        return _("“%(name)s” is empty: choose the file again, or a different one.", name=name)
    if size > web.upload_max_file_bytes:
        return _(
            "“%(name)s” is too large: a file can be at most %(limit)s.",
            name=name,
            limit=file_size(web.upload_max_file_bytes),
        )
    if kind in {e.lower().lstrip(".") for e in web.upload_blocked_extensions}:
        return _(
            "“%(name)s” cannot be attached: files ending .%(kind)s can run programs on the computers that open them.",
            name=name,
            kind=kind,
        )
    allowed = {e.lower().lstrip(".") for e in web.upload_allowed_extensions}
    if allowed and kind not in allowed:
        return _(
            "“%(name)s” cannot be attached: files here must end in one of %(kinds)s.",
            name=name,
            kinds=", ".join(f".{e}" for e in sorted(allowed)),
        )
    if len(attached.files) >= web.upload_max_files:
        return ngettext(
            "“%(name)s” was not attached: a message can have at most %(num)d file.",
            "“%(name)s” was not attached: a message can have at most %(num)d files.",
            web.upload_max_files,
            name=name,
        )
    if attached.total + size > total_limit(site):
        return _(
            "“%(name)s” was not attached: together a message's files can be at most %(limit)s.",
            name=name,
            limit=file_size(total_limit(site)),
        )
    return ""
