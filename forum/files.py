"""What a stored attachment is called and what type it is, whichever channel brought it.

Mail clients and browsers alike send names with directories, control characters, a
right-to-left override that turns ``invoice‮fdp.exe`` into "invoiceexe.pdf" on screen, or
no name at all: what is stored and offered for download gets a plain filename. A browser's
declared type is the sender's word; a file claiming to be an image or a PDF (the types the
archive shows inline) is one only when its first bytes say so.
"""

from __future__ import annotations

import mimetypes
import unicodedata

_EXTENSIONS = {
    "message/rfc822": ".eml",
    "message/global": ".eml",
    "message/delivery-status": ".txt",
    "message/disposition-notification": ".txt",
    "text/rfc822-headers": ".txt",
    "text/plain": ".txt",
    "text/html": ".html",
    "text/calendar": ".ics",
    "image/jpeg": ".jpg",
    "application/octet-stream": ".bin",
}
_MIME_TYPES = mimetypes.MimeTypes(filenames=())  # Python's own table, not the host's files
for _type, _extension in (  # what offices send that the table does not know
    ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", ".docx"),
    ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ".xlsx"),
    ("application/vnd.openxmlformats-officedocument.presentationml.presentation", ".pptx"),
    ("application/vnd.oasis.opendocument.text", ".odt"),
    ("application/vnd.oasis.opendocument.spreadsheet", ".ods"),
    ("application/vnd.oasis.opendocument.presentation", ".odp"),
    ("application/vnd.ms-outlook", ".msg"),
    ("text/calendar", ".ics"),
):
    _MIME_TYPES.add_type(_type, _extension)
MAX_FILENAME_BYTES = 200
UNKNOWN_TYPE = "application/octet-stream"

# The first bytes of each type the archive shows inline (web.archive.views.INLINE_TYPES).
_SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "application/pdf": (b"%PDF-",),
}


def invented_name(index: int, content_type: str) -> str:
    """A name for a file that came without one: ``attachment-2.pdf``."""
    extension = _EXTENSIONS.get(content_type) or _MIME_TYPES.guess_extension(content_type) or ".bin"
    return f"attachment-{index}{extension}"


def safe_filename(name: str | None, index: int, content_type: str) -> str:
    """A filename without directories, control or direction characters, or hidden-file dots,
    of at most :data:`MAX_FILENAME_BYTES` with its extension kept."""
    if name:
        name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
        name = "".join(c for c in name if c.isprintable()).strip(" .")
        while len(name.encode("utf-8")) > MAX_FILENAME_BYTES:
            stem, dot, extension = name.rpartition(".")
            name = f"{stem[:-1]}{dot}{extension}" if stem and len(extension) < 16 else name[:-1]
    return name or invented_name(index, content_type)


def extension(filename: str) -> str:
    """The lower-case extension without its dot ("" for none): what people and policies name a type by."""
    stem, dot, ext = filename.rpartition(".")
    return ext.lower() if dot and stem else ""


def uploaded_type(filename: str, data: bytes) -> str:
    """The type to store for an uploaded file, from its bytes and name, never from the sender.

    Bytes that begin as an image or PDF are that; a name claiming one of those types for
    other bytes gets the neutral type, so nothing is shown inline that is not what it says.
    Any other type is the one its name's extension stands for.
    """
    for kind, signatures in _SIGNATURES.items():
        if data.startswith(signatures):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    guessed, _ = _MIME_TYPES.guess_type(filename, strict=False)
    if guessed is None or guessed in _SIGNATURES or guessed.startswith(("image/", "message/")):
        return UNKNOWN_TYPE  # an .eml too: mail would carry it re-parsed, not as the bytes given
    return guessed
