"""Text of unknown or wrongly labelled charsets, decoded anyway.

Mail names its charset in labels that Python spells otherwise, or names the wrong one
(Latin-1 sent as UTF-8, UTF-8 as us-ascii), and 8-bit bytes turn up in headers that
should have none. Every piece of text the parser reads comes through here, so that it
is always a readable string: never an exception, never surrogate garbage.
"""

from __future__ import annotations

import codecs
import re

# Labels mail clients use for charsets Python names differently, or for which
# a superset decodes what is really sent (Windows and CJK vendor extensions).
_CHARSET_SUPERSETS = {
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "iso-8859-9": "cp1254",
    "iso-8859-11": "cp874",
    "tis-620": "cp874",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "euc-cn": "gb18030",
    "big5": "cp950",
    "big-5": "cp950",
    "x-x-big5": "cp950",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "x-sjis": "cp932",
    "sjis": "cp932",
    "iso-2022-jp": "iso2022_jp_ext",
    "euc-kr": "cp949",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "unicode-1-1-utf-7": "utf-7",
    "utf8": "utf-8",
    "x-unknown": "",
    "unknown-8bit": "",
    "unknown": "",
    "x-user-defined": "",
    "default": "",
}
# Charsets whose decoder accepts any bytes: they say nothing about whether
# the label was right, so UTF-8 is tried before them.
_PERMISSIVE = frozenset({"cp1252", "latin-1", "iso8859-1"})


def _codec_name(label: str | None) -> str | None:
    """The Python codec for a MIME charset label, or None if unknown."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    label = _CHARSET_SUPERSETS.get(label, label)
    if not label:
        return None
    try:
        return codecs.lookup(label).name
    except (LookupError, ValueError):
        return None


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode text whatever its label says: label, then UTF-8, then Windows-1252.

    Mislabelled mail is common (Latin-1 sent as UTF-8, UTF-8 sent as
    us-ascii), so a label is only trusted when the bytes decode cleanly.
    """
    codec = _codec_name(charset)
    candidates = [c for c in (codec, "utf-8") if c and c not in _PERMISSIVE]
    candidates += [c for c in (codec, "cp1252") if c]
    for candidate in dict.fromkeys(candidates):
        try:
            return data.decode(candidate)
        except (UnicodeDecodeError, LookupError):
            continue
    return _decode_mostly_utf8(data)


def _decode_mostly_utf8(data: bytes) -> str:
    """Last resort: UTF-8 with replacements if it is mostly UTF-8, else Windows-1252."""
    as_utf8 = data.decode("utf-8", errors="replace")
    replaced = as_utf8.count("\ufffd")
    multibyte = sum(1 for c in as_utf8 if ord(c) > 0x7F and c != "\ufffd")
    if multibyte > replaced:
        return as_utf8
    return data.decode("cp1252", errors="replace")


_SURROGATES_RE = re.compile("[\udc80-\udcff]+")


def fix_surrogates(text: str) -> str:
    """Decode raw 8-bit bytes that the parser kept as surrogate escapes."""
    return _SURROGATES_RE.sub(lambda m: decode_bytes(m.group().encode("utf-8", "surrogateescape"), None), text)


CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def normalize_text(text: str) -> str:
    """\\n line endings, no NULs or other control characters."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return CONTROL_RE.sub("", text)
