"""Keep only the new text of an email reply.

People reply on top of, below or between quoted text, add "On ... wrote:"
attributions in their own language, Outlook header blocks, forwarded
originals, mobile signatures and "-- " signatures.  Posting all of that to a
forum or archive buries the actual message, so the gateway trims it and
keeps the removed part for a "show quoted text" control.

The approach follows Discourse's ``email_reply_trimmer`` (MIT): every line is
classified into one letter -- empty, delimiter, signature, emBedded-email
marker, email header, quote or text -- and the trimming decisions are taken
on that string of letters rather than on the text itself.  Each decision is
written as an explicit scan over the letters (not as a backtracking regular
expression over the whole message) so the cost stays linear in the number of
lines, and the line matchers only look at lines short enough to be a marker,
so pathological input (a 700 kB line of ``>``) costs no more than reading it.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from functools import lru_cache

from mailgateway.text.htmltext import strip_quote_containers

__all__ = ["MAX_TRIMMED_CHARS", "Trimmed", "trim_reply", "trim_html", "is_attribution_line", "is_header_line"]

EMPTY = "e"
DELIMITER = "d"
SIGNATURE = "s"
EMBEDDED = "b"
HEADER = "h"
QUOTE = "q"
TEXT = "t"

# Attribution, header and signature lines are short; anything longer is text.
# The cap also bounds the cost of every line regex below.
_MAX_MARKER_LEN = 400
# "On <date>, <someone>\n<email>\nwrote:" may be wrapped over up to 5 lines.
_MAX_WRAPPED_MARKER_LINES = 5
# A reply below an embedded email is trusted when it is shorter than this many
# text lines; a longer "reply" there is more likely the embedded email itself.
_MAX_TEXT_LINES_AFTER_EMBEDDED = 7
# A reply longer than this is kept whole, untrimmed: classifying every line of a text the
# size of a message at the size limit holds the spool processor for seconds, and a text
# this long is pasted data or a whole archive, not a reply above a quote.
MAX_TRIMMED_CHARS = 1_000_000


@dataclass(frozen=True)
class Trimmed:
    """The result of trimming a reply."""

    body: str
    elided: str  # everything removed
    signature: str = ""  # of that, the sender's own "-- " or "Sent from my iPhone" signature
    quoted: str = ""  # and the rest: the quoted mail


# --------------------------------------------------------------------------
# Line matchers
# --------------------------------------------------------------------------

_DELIMITER_CHARS = "-_,=+~#*ᐧ— \t"
# A lone "-" or "*" is an empty bullet, not a separator; these glyphs are
# separators on their own (Gmail's tracking dot, the em dash of notifications).
_LONE_DELIMITERS = frozenset("ᐧ—")


# "## Please type your reply above this line ##" and the like, written by
# notification senders (forums, trackers, helpdesks) above the quoted copy.
_REPLY_ABOVE_RE = re.compile(
    r"above this line|reply above|oberhalb dieser zeile|au-dessus de cette ligne"
    r"|por encima de esta l[íi]nea|acima desta linha|boven deze regel"
    r"|ovanför (?:denna|den här) rad|over denne linjen",
    re.I,
)


_REPLY_ABOVE_HINTS = ("above", "line", "zeile", "ligne", "línea", "linea", "linha", "regel", "rad", "linjen")


def _is_reply_above_marker(line: str) -> bool:
    """A notification's "reply above this line": everything below it is theirs."""
    if len(line) > 160 or _is_quote(line):
        return False
    lowered = line.lower()
    return any(hint in lowered for hint in _REPLY_ABOVE_HINTS) and bool(_REPLY_ABOVE_RE.search(line))


def _is_delimiter(line: str) -> bool:
    """A line made only of separator characters ("--", "____", "====" ...)."""
    stripped = line.strip()
    if not stripped or len(stripped) > _MAX_MARKER_LEN or stripped.strip(_DELIMITER_CHARS):
        return False
    return len(stripped) >= 2 or stripped in _LONE_DELIMITERS


_MARKDOWN_LINK_RE = re.compile(r"\[([^\]\n]{1,200})\]\([^)\s]{1,2000}\)")
_ANGLE_URL_RE = re.compile(r"<(?:https?|mailto):[^>\s]{1,2000}>", re.I)
# "Sent from my phone, please excuse typos": the excuse is cut before matching.
_EXCUSE_CLAUSE_RE = re.compile(
    r"(?P<head>[^.,;:!?]{1,80})[.,;:!-]+\s*(?:please|pls|excuse|sorry|apologies|pardon|forgive)\b",
    re.I,
)
_MAX_SIGNATURE_LEN = 200
_SIGNATURE_RES = tuple(
    re.compile(pattern, re.I)
    for pattern in (
        # English: "Sent from my iPhone", "(Sent from mobile device)", "<<sent by galaxy>>"
        r"[(<\s]*sent (?:from|via|with|using|by) [^,;!?]{1,60}?[)>\s.]*",
        r"[(<\s]*(?:get|download) outlook for \S.*",
        r"\S+ from (?:my )?mobile\W*",
        r"from my (?:iphone|ipad|android|mobile|phone|cell|smartphone|tablet|blackberry|samsung"
        r"|galaxy|pixel|huawei|xiaomi|nokia|htc)\b.{0,20}",
        # French, German, Italian, Spanish, Portuguese
        r"envoy[ée] (?:depuis|de) (?:mon|ma|yahoo|l'application) .{1,40}",
        r"von meinem .{1,40}? gesendet\W*",
        r"gesendet (?:von|mit|über) .{1,40}",
        r"diese nachricht wurde von .{1,60} gesendet\W*",
        r"inviato da .{1,40}",
        r"enviado (?:desde|do|de|com|con|a partir do) .{1,40}",
        # Dutch, Scandinavian, Finnish, Polish, Russian, Ukrainian
        r"(?:verzonden|verstuurd) (?:met|vanaf|van) .{1,40}",
        r"(?:sendt|skickat|skickad) (?:fra|från|med) .{1,40}",
        r"från min .{1,40}",
        r"lähetetty .{1,40}",
        r"wys[łl]ane z .{1,40}",
        r"(?:отправлено|надіслано) (?:с|со|из|з) .{1,40}",
        # Chinese, Japanese
        r"從我的 ?\S+ ?傳送",
        r"发自我的 ?\S+",
        r"\S{1,30}から送信",
    )
)


def _is_signature(line: str) -> bool:
    """A one-line mobile/webmail signature such as "Sent from my iPhone"."""
    if len(line) > _MAX_SIGNATURE_LEN:
        return False
    cleaned = _ANGLE_URL_RE.sub(" ", _MARKDOWN_LINK_RE.sub(r"\1", line)).strip()
    excuse = _EXCUSE_CLAUSE_RE.match(cleaned)
    if excuse:
        cleaned = excuse.group("head")
    return any(regex.fullmatch(cleaned) for regex in _SIGNATURE_RES)


# "wrote" in the languages mail clients write attributions in.  CJK words are
# not delimited by spaces, so the word boundary is only required around
# alphabetic words.
_WROTE_WORDS = (
    r"wrote|writes|a [ée]crit|nous a dit|schrieb|schrieben sie"
    r"|geschrieben|het volgende geschreven|schreef|ha scritto|scrisse"
    r"|escreveu|escribi[óo]|napisa[łl](?:\(a\))?|napisala?|napsal(?:\(a\))?|napsala"
    r"|nap[íi]sal(?:\(a\))?|skrev|kirjoitti|написал(?:\(а\))?|написала|написав"
    r"|пише|писал|έγραψε|yazd[ıi]|[íi]rta|a scris|ra[šs][ėe]|rakst[īi]ja"
)
_WROTE_CJK = r"写道|寫道|のメッセージ|のメール|님이 작성"
# Words that also end ordinary sentences count only when a colon follows.
_SAID_WORDS = r"said|says"
_WROTE = rf"(?:(?<!\w)(?:{_WROTE_WORDS}|{_SAID_WORDS})(?!\w)|{_WROTE_CJK})"
# Verbs that come before the name: "Am <date> schrieb <name>:"
_WROTE_BEFORE_NAME = (
    r"(?<!\w)(?:schrieb|skrev|schreef|wrote|escribi[óo]|a [ée]crit|ha scritto"
    r"|escreveu|napisa[łl](?:\(a\))?|kirjoitti)(?!\w)"
)
# A year (19xx/20xx), a time (10:30, 20.42, 10h30) or a numeric date (1/2/2016).
# It starts with a plain digit so the engine can skip quickly to digits; the
# lookbehinds then check what precedes that first digit.
_DATE_LIKE = (
    r"\d(?<!\d\d)(?:(?<=1)9\d\d|(?<=2)0\d\d|\d?[:.h]\d\d|\d?[/.-]\d{1,2}[/.-]\d{2,4})(?!\d)"
)
_DATE_LIKE_RE = re.compile(_DATE_LIKE)
# Anchored at the start of a word so that a long run of word characters
# without "@" is scanned once, not once per starting position.
_EMAIL_RE = re.compile(r"(?<![\w.+'-])[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
_TRAILER = r"[\s.:：>*)\-]*$"

# "On <date>, <someone> wrote:" and its translations.  These two are searched
# for near the end of the line only (see _search_tail): trying a long
# alternation of words at every position of a long line is what costs.
_ENDS_WITH_WROTE_RE = re.compile(rf"(?P<verb>{_WROTE})(?P<trailer>{_TRAILER})", re.I)
_SAID_RE = re.compile(_SAID_WORDS, re.I)
# "Am <date> schrieb <someone>:", "<someone> wrote on <date>:"
_WROTE_THEN_NAME_RE = re.compile(rf"{_WROTE_BEFORE_NAME}\s.{{1,160}}?[:：]\s*$", re.I)
_TAIL_LENGTH = 200
# "2013/7/20 someone <someone@example.com>" (Gmail), "вт, 5 янв. 2016 г. в 23:39, X <x@y.z>:"
_DATE_THEN_ADDRESS_RE = re.compile(
    rf"^[\s>]*(?=.{{0,40}}?(?:{_DATE_LIKE})).{{1,200}}?<\s*[^<>@\s]+@[^<>\s]+>\s*[:：]?\s*$"
)
# "2016-03-03 17:21 GMT+01:00 Some One" (old Gmail)
_ISO_DATE_NAME_RE = re.compile(
    r"^[\s>]*\d{4}-\d\d-\d\d \d{1,2}:\d\d GMT[+-]\d{1,2}(?::?\d\d)? [^<>@\n]{1,80}$"
)
# "* Some One <some@one.example> [2024-03-04 10:15]:" (a common mutt setting)
_MUTT_ATTRIBUTION_RE = re.compile(
    r"^[\s>]*\* .{1,100}<[^<>@\s]+@[^<>\s]+> \[\d{4}-\d\d-\d\d[^\]]{0,40}\]:\s*$"
)
_POSTED_BY_RE = re.compile(r"^[\s>]*Posted by .{1,80} on \d\d/\d\d/\d{4}\s*$", re.I)
# Outlook's "-----Original Message-----", which it writes above the mail a reply (or a
# forward) quotes, and the forwarding markers of other clients, which introduce content.
_ORIGINAL_PHRASES = (
    r"original message|reply message|message d'origine|message original"
    r"|ursprüngliche nachricht|mensaje original|messaggio originale|mensagem original"
    r"|oorspronkelijk bericht|origineel bericht|originalmeddelande|opprinnelig melding"
    r"|oprindelig meddelelse|alkuperäinen viesti"
    r"|wiadomo[śs][ćc] oryginalna|oryginalna wiadomo[śs][ćc]|p[ůu]vodn[íi] zpr[áa]va"
    r"|исходное сообщение|оригінальне повідомлення|eredeti üzenet|orijinal mesaj|αρχικό μήνυμα"
    r"|原始邮件|原始郵件|元のメッセージ"
)
_FORWARDED_PHRASES = (
    r"forwarded message|message transf[ée]r[ée]|weitergeleitete nachricht|mensaje reenviado"
    r"|messaggio inoltrato|mensagem encaminhada|doorgestuurd bericht|vidarebefordrat meddelande"
    r"|videresendt melding|videresendt meddelelse|välitetty viesti"
    r"|przekazana wiadomo[śs][ćc]|p[řr]eposlan[áa] zpr[áa]va"
    r"|пересылаемое сообщение|пересланное сообщение|转发邮件|轉寄郵件|転送されたメッセージ"
)


def _dashed(phrases: str) -> re.Pattern[str]:
    return re.compile(rf"^[\s>*]*-{{2,}}\s*(?:{phrases})\s*-{{2,}}[\s*]*$", re.I)


_ORIGINAL_MESSAGE_RE = _dashed(f"{_ORIGINAL_PHRASES}|{_FORWARDED_PHRASES}")
_OUTLOOK_ORIGINAL_RE = _dashed(_ORIGINAL_PHRASES)
_FORWARD_INTRO_RE = re.compile(
    r"^[\s>*]*(?:begin forwarded message|d[ée]but du message (?:transf[ée]r[ée]|r[ée]exp[ée]di[ée])"
    r"|anfang der weitergeleiteten (?:nachricht|e-mail)|inicio del mensaje reenviado"
    r"|inizio messaggio inoltrato|in[íi]cio da mensagem (?:reencaminhada|encaminhada)"
    r"|begin doorgestuurd bericht|vidarebefordrat (?:mejl|meddelande)"
    r"|начало переадресованного сообщения)\s*[:：]",
    re.I,
)


# How attributions begin: a date, or "On"/"Le"/"Am"/... in the languages above.
_MARKER_START_RE = re.compile(
    r"^[\s>*\-]*(?:\d|(?:on|at|le|am|op|il|em|el|dnia|w dniu|den|dne|dňa|på|pe|στις"
    r"|in message|begin|posted by)(?!\w)|在)",
    re.I,
)


def _has_attribution_evidence(line: str) -> bool:
    """Attributions carry a date, an address or a "via" list name.

    Requiring one of them keeps prose such as "As I wrote:" or
    "On this day I wrote something" from being taken for a quote header.
    """
    return bool(
        _DATE_LIKE_RE.search(line)
        or ("@" in line and _EMAIL_RE.search(line))
        or " via " in line.lower()
    )


def _search_tail(regex: re.Pattern[str], line: str) -> re.Match[str] | None:
    """Search only the end of the line (lookbehinds still see what precedes it)."""
    return regex.search(line, max(0, len(line) - _TAIL_LENGTH))


@lru_cache(maxsize=4096)
def _is_wrote_attribution(line: str) -> bool:
    """An "On <date>, X wrote:" style line, in any supported language.

    Without a colon after "wrote" the line must also begin like an
    attribution, so that a sentence ending in "... as Bob wrote" stays text.
    """
    if len(line) > 2 * _MAX_MARKER_LEN or not _has_attribution_evidence(line):
        return False
    match = _search_tail(_ENDS_WITH_WROTE_RE, line)
    if match:
        has_colon = bool(re.search("[:：]", match.group("trailer")))
        if has_colon or (not _SAID_RE.fullmatch(match.group("verb")) and _MARKER_START_RE.match(line)):
            return True
    return bool(_search_tail(_WROTE_THEN_NAME_RE, line))


def _is_date_then_address(line: str) -> bool:
    """Gmail's "<date> Name <address>:" -- with the colon, or with the date first."""
    return bool(_DATE_THEN_ADDRESS_RE.match(line)) and (
        line.rstrip().endswith((":", "：")) or bool(re.match(r"[\s>]*\d", line))
    )


@lru_cache(maxsize=4096)
def _is_embedded_marker(line: str) -> bool:
    """A line that introduces an embedded (quoted or forwarded) email."""
    if len(line) > 2 * _MAX_MARKER_LEN:
        return False
    return (
        _is_wrote_attribution(line)
        or _is_date_then_address(line)
        or bool(_ISO_DATE_NAME_RE.match(line))
        or bool(_MUTT_ATTRIBUTION_RE.match(line))
        or bool(_POSTED_BY_RE.match(line))
        or bool(_ORIGINAL_MESSAGE_RE.match(line))
        or bool(_FORWARD_INTRO_RE.match(line))
    )


def is_attribution_line(line: str) -> bool:
    """Whether ``line`` introduces quoted/forwarded mail ("On ... wrote:")."""
    return _is_embedded_marker(line.strip())


# Header names of the embedded header blocks that Outlook and webmails write,
# in English and the languages their users most often send from.
_DATE_HEADERS = (
    r"sent|date|sendt|le|gesendet|envoy[ée]|date d'envoi|enviada em|enviado"
    r"|fecha|data|inviato|datum|skickat|verzonden|l[äa]hetetty|wys[łl]ano"
    r"|wys[łl]ane|отправлено|дата|odesl[áa]no|elk[üu]ldve|g[öo]nderildi"
    r"|发送时间|發送時間|寄件日期|送信日時|日期"
)
_TEXT_HEADERS = (
    r"from|to|cc|bcc|reply-to|subject|de|exp[ée]diteur|[àa]|destinataire"
    r"|r[ée]pondre [àa]|objet|von|an|betreff|antwort an|para|assunto|asunto"
    r"|responder a|da|risposta|oggetto|rispondi a|van|beantwoorden - aan|aan"
    r"|onderwerp|fr[åa]n|till|[äa]mne|fra|til|emne|od|do|kopia|temat|dw"
    r"|komu|kopie|p[řr]edm[ěe]t|от|кому|копия|тема|l[äa]hett[äa]j[äa]"
    r"|vastaanottaja|aihe|felad[óo]|c[íi]mzett|t[áa]rgy|kimden|kime|konu"
    r"|发件人|收件人|抄送|主题|寄件者|收件者|副本|主旨|差出人|宛先|件名"
)
_DATE_HEADER_RE = re.compile(rf"^[ \t*]*(?:{_DATE_HEADERS})[ \t*]*[:：].*\d", re.I)
_TEXT_HEADER_RE = re.compile(rf"^[ \t*]*(?:{_TEXT_HEADERS})[ \t*]*[:：].*\w", re.I)


def _is_email_header(line: str) -> bool:
    """A "From: ..." / "Gesendet: ..." line of an embedded header block."""
    if len(line) > _MAX_MARKER_LEN:
        return False
    return bool(_DATE_HEADER_RE.match(line) or _TEXT_HEADER_RE.match(line))


def is_header_line(line: str) -> bool:
    """Whether ``line`` is a line of a quoted mail's header block ("From: ...", "Sent: ...")."""
    return _is_email_header(line.strip())


def _is_quote(line: str) -> bool:
    return line.lstrip().startswith(">")


def _classify(line: str) -> str:
    """One letter describing the line; the order of the checks matters."""
    if not line.strip():
        return EMPTY
    if _is_delimiter(line) or _is_reply_above_marker(line):
        return DELIMITER
    if _is_signature(line):
        return SIGNATURE
    if _is_embedded_marker(line):
        return EMBEDDED
    if _is_email_header(line):
        return HEADER
    if _is_quote(line):
        return QUOTE
    return TEXT


# --------------------------------------------------------------------------
# Pre-processing
# --------------------------------------------------------------------------

_PGP_SIGNED_HEADER_RE = re.compile(
    r"\A-----BEGIN PGP SIGNED MESSAGE-----\n(?:Hash: [\w-]+\n)?\s*", re.I
)
_ALIAS_QUOTE_RE = re.compile(r'^.{0,80}?>{5} "[^"\n]{1,80}" == .{1,200}? writes:')
_NAMED_ENCLOSED_OPEN_RE = re.compile(r"^>>> ?(.+?) ?>>>$")
_NAMED_ENCLOSED_CLOSE_RE = re.compile(r"^<<< ?(.+?) ?<<<$")
_ENCLOSED_OPEN_RE = re.compile(r"^>{4,}[ \t]*$")
_ENCLOSED_CLOSE_RE = re.compile(r"^<{4,}[ \t]*$")
# Leading quote markers in other styles: "|", "Name>" (supercite), "C>".
_QUOTE_PREFIX_RE = re.compile(r"(?:[ \t]*(?:[^\W\d_]{1,15}>(?=[ \t>|]|$)|>|\|(?=[ \t>|]|$)))+")
_PREFIX_TOKEN_RE = re.compile(r"[^\W\d_]{1,15}>|\|")


def _normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _strip_pgp(text: str) -> str:
    """Remove clear-signing armour, which is not part of what was written."""
    text = _PGP_SIGNED_HEADER_RE.sub("", text)
    lines = text.split("\n")
    kept: list[str] = []
    in_signature = False
    for line in lines:
        if line.strip() == "-----BEGIN PGP SIGNATURE-----":
            in_signature = True
        elif in_signature and line.strip() == "-----END PGP SIGNATURE-----":
            in_signature = False
        elif not in_signature:
            kept.append(line)
    return "\n".join(kept) if not in_signature else text


def _unwrap_enclosed_quotes(lines: list[str]) -> list[str]:
    """Turn ">>>> ... <<<<" and ">>> name >>> ... <<< name <<<" blocks into "> " quotes."""
    plain_closes = [i for i, line in enumerate(lines) if _ENCLOSED_CLOSE_RE.match(line)]
    named_closes: dict[str, list[int]] = {}
    for i, line in enumerate(lines):
        match = _NAMED_ENCLOSED_CLOSE_RE.match(line)
        if match:
            named_closes.setdefault(match.group(1), []).append(i)
    out: list[str] = []
    i = 0
    while i < len(lines):
        close = _matching_close(lines[i], i, plain_closes, named_closes)
        if close is None:
            out.append(lines[i])
            i += 1
            continue
        out.extend("> " + line for line in lines[i + 1 : close])
        i = close + 1
    return out


def _matching_close(
    line: str, index: int, plain: list[int], named: dict[str, list[int]]
) -> int | None:
    """Index of the line closing an enclosed quote opened at ``index``, if any."""
    if len(line) > _MAX_MARKER_LEN:
        return None
    candidates: list[int] = []
    if _ENCLOSED_OPEN_RE.match(line):
        candidates = plain
    else:
        match = _NAMED_ENCLOSED_OPEN_RE.match(line)
        if match:
            candidates = named.get(match.group(1), [])
    position = bisect.bisect_right(candidates, index + 1)
    return candidates[position] if position < len(candidates) else None


def _normalize_quote_prefix(line: str) -> str:
    """Rewrite "| text", "Name> text" quote prefixes as "> text".

    A line ending in "|" is a table row, not a quote, so its pipes are kept.
    """
    match = _QUOTE_PREFIX_RE.match(line)
    if not match or not _PREFIX_TOKEN_RE.search(match.group()):
        return line
    prefix = match.group()
    if "|" in prefix and line.rstrip().endswith("|") and line.count("|") >= 2:
        return line
    return _PREFIX_TOKEN_RE.sub(">", prefix) + line[match.end() :]


def _may_start_wrapped_marker(line: str) -> bool:
    """Whether a wrapped attribution could begin on this line."""
    return len(line) <= _MAX_MARKER_LEN and bool(
        _MARKER_START_RE.match(line) or ("@" in line and _EMAIL_RE.search(line))
    )


def _join_wrapped_markers(lines: list[str]) -> list[str]:
    """Join attributions that the sender's client wrapped over several lines.

    "On <date>, Some One <some@one.com>\\nwrote:" must become one line for the
    line classifier to see it.  A join starts on a line that begins like an
    attribution, never swallows a line that is a whole attribution itself,
    and a join ending in "wrote" (in any language) wins over a shorter one
    that merely ends in an address, because "<address>\\nwrote:" is the
    commoner wrapping.
    """
    out: list[str] = []
    i = 0
    while i < len(lines):
        span = _wrapped_marker_span(lines, i)
        if span:
            parts = [lines[i]] + [l.strip() for l in lines[i + 1 : i + span] if l.strip()]
            out.append(" ".join(parts))
            i += span
        else:
            out.append(lines[i])
            i += 1
    return out


_WROTE_RE = re.compile(_WROTE, re.I)
# Every marker ends in "wrote" (in some language), a colon or an address.
_MARKER_END_HINT_RE = re.compile(rf"(?:{_WROTE}|[:：>])[\s.:：>*)\-]*$", re.I)


def _wrapped_marker_span(lines: list[str], start: int) -> int:
    """How many lines from ``start`` form one wrapped marker (0 if none).

    The first line must already carry a date or an address, and no line but
    the last may say "wrote": prose such as "On this day I wrote ...\n...
    as Bob wrote" is not an attribution.
    """
    first = lines[start]
    if not first.strip() or not _may_start_wrapped_marker(first):
        return 0
    if not _has_attribution_evidence(first) or _is_wrote_attribution(first):
        return 0
    first_is_marker = _is_embedded_marker(first)
    fallback = 0
    joined = first
    last = min(len(lines), start + _MAX_WRAPPED_MARKER_LINES)
    for end in range(start + 1, last):
        following = lines[end]
        if _MARKER_START_RE.match(following) and _is_embedded_marker(following):
            break
        if not following.strip():
            continue
        joined = f"{joined} {following.strip()}"
        if len(joined) > 2 * _MAX_MARKER_LEN:
            break
        if _search_tail(_MARKER_END_HINT_RE, following):
            if _is_wrote_attribution(joined):
                return end - start + 1
            if not fallback and not first_is_marker and _is_embedded_marker(joined):
                fallback = end - start + 1
        if _WROTE_RE.search(following):
            break
    return fallback


def _preprocess(text: str) -> list[str]:
    text = _strip_pgp(_normalize_newlines(text))
    lines = [_ALIAS_QUOTE_RE.sub("", line) for line in text.split("\n")]
    lines = _unwrap_enclosed_quotes(lines)
    lines = [_normalize_quote_prefix(line) for line in lines]
    lines = _join_wrapped_markers(lines)
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


_CODE_OPEN_RE = re.compile(r"```\w*")


def _code_block_lines(lines: list[str]) -> set[int]:
    """Lines inside fenced ``` code blocks: they are text whatever they look like."""
    closes = [i for i, line in enumerate(lines) if line == "```"]
    inside: set[int] = set()
    i = 0
    while i < len(lines):
        position = bisect.bisect_right(closes, i)
        if _CODE_OPEN_RE.fullmatch(lines[i]) and position < len(closes):
            close = closes[position]
            inside.update(range(i, close + 1))
            i = close + 1
        else:
            i += 1
    return inside


# --------------------------------------------------------------------------
# Decisions on the line pattern
# --------------------------------------------------------------------------


class _Lines:
    """The surviving line indices and their one-letter pattern, kept in step."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.index = list(range(len(pattern)))

    def keep_until(self, end: int) -> None:
        """Keep positions ``[0, end)``."""
        self.pattern = self.pattern[:end]
        self.index = self.index[:end]

    def keep_from(self, start: int) -> None:
        self.pattern = self.pattern[start:]
        self.index = self.index[start:]

    def drop(self, letter: str) -> None:
        kept = [(c, i) for c, i in zip(self.pattern, self.index) if c != letter]
        self.pattern = "".join(c for c, _ in kept)
        self.index = [i for _, i in kept]


_TEXT_THEN_MARKER_RE = re.compile(r"te*b")
_TEXT_THEN_HEADERS_RE = re.compile(r"t[eq]*h{3}")


def _reply_at_end_start(pattern: str) -> int | None:
    """Start of the reply when the mail opens with an attribution and the reply follows it.

    Pattern ``b[^t]+t[et]*``: marker, quoted/other lines, then only text.
    """
    if not pattern.startswith(EMBEDDED):
        return None
    first_text = pattern.find(TEXT)
    if first_text < 2 or set(pattern[first_text:]) - {TEXT, EMPTY}:
        return None
    return first_text


def _text_before_trailing_marker(pattern: str) -> int | None:
    """Text line followed by a marker with no quote after it (``te*b[^q]*$``)."""
    match = _TEXT_THEN_MARKER_RE.search(pattern, pattern.rfind(QUOTE) + 1)
    return match.start() if match else None


def _text_before_quoted_email(pattern: str) -> int | None:
    """Text line, a marker, its quote and at most a short tail (``te*b[eqbh]*[te]*$``)."""
    last_block = max(pattern.rfind(c) for c in (EMBEDDED, QUOTE, HEADER))
    if last_block < 0:
        return None
    text = pattern.rfind(TEXT, 0, last_block + 1)
    if text < 0:
        return None
    marker = text + 1
    while marker < len(pattern) and pattern[marker] == EMPTY:
        marker += 1
    if marker > last_block or pattern[marker] != EMBEDDED:
        return None
    if pattern.count(TEXT, last_block + 1) >= _MAX_TEXT_LINES_AFTER_EMBEDDED:
        return None
    return text


def _start_of_trailing_quote(pattern: str) -> int | None:
    """Where a final run of quotes/markers begins (``t?e*[qbe]+$``), the text line included."""
    start = len(pattern.rstrip(QUOTE + EMBEDDED + EMPTY))
    if start == len(pattern):
        return None
    return start - 1 if start > 0 and pattern[start - 1] == TEXT else start


def _widen_wrapped_headers(pattern: str) -> str:
    """Headers whose value wrapped onto text lines (``h+[hte]+h+e`` becomes all headers)."""
    for run in re.finditer(r"[hte]+", pattern):
        start, end = run.span()
        last_pair = pattern.rfind("he", start, end)
        if last_pair < 0:
            continue
        first_header = pattern.find(HEADER, start, end)
        if 0 <= first_header <= last_pair - 2:
            stop = last_pair + 2
            return pattern[:first_header] + HEADER * (stop - first_header) + pattern[stop:]
    return pattern


def _lone_headers_as_text(pattern: str) -> str:
    """A single "Subject: ..." or "A: ..." line is prose; only header blocks are dropped."""
    return re.sub(r"(?<!h)h(?!h)", TEXT, pattern)


def _trim_pattern(lines: _Lines) -> None:
    """Apply the trimming decisions, in order, to the classified lines."""
    delimiter = lines.pattern.find(DELIMITER)
    # A delimiter separates a reply from what it quotes; one with no text above it (a
    # patch mail's leading "---") separates nothing and would otherwise empty the post.
    if delimiter >= 0 and TEXT in lines.pattern[:delimiter]:
        lines.keep_until(delimiter)
    lines.drop(SIGNATURE)

    reply_start = _reply_at_end_start(lines.pattern)
    if reply_start is not None:
        lines.keep_from(reply_start)
        return

    for find_cut in (_text_before_trailing_marker, _text_before_quoted_email, _start_of_trailing_quote):
        cut = find_cut(lines.pattern)
        if cut is not None:
            lines.keep_until(cut + 1)
    lines.drop(EMBEDDED)

    lines.pattern = _widen_wrapped_headers(lines.pattern)
    headers = _TEXT_THEN_HEADERS_RE.search(lines.pattern)
    if headers:
        lines.keep_until(headers.start() + 1)
    lines.pattern = _lone_headers_as_text(lines.pattern)
    lines.drop(HEADER)

    if TEXT in lines.pattern:
        lines.keep_until(len(lines.pattern.rstrip(EMPTY + QUOTE)))


def _is_heading_underline(previous: str, line: str) -> bool:
    """"=====" or "-----" right under a text line of about its length underlines a heading.

    Plain-text writers underline titles that way; cutting the message there
    (as at a separator) would drop everything after the first heading.
    """
    underline, heading = line.strip(), previous.strip()
    return (
        len(underline) >= 3
        and len(set(underline)) == 1
        and underline[0] in "=-"
        and len(underline) / 2 <= len(heading) <= len(underline) * 2
    )


def _classify_all(lines: list[str]) -> str:
    code = _code_block_lines(lines)
    letters = [TEXT if i in code else _classify(line) for i, line in enumerate(lines)]
    for i in range(1, len(lines)):
        if letters[i] == DELIMITER and letters[i - 1] == TEXT and _is_heading_underline(lines[i - 1], lines[i]):
            letters[i] = TEXT
    return "".join(letters)


_SIGNATURE_DELIMITER_RE = re.compile(r"--[ \t]?")


def _own_signature(lines: list[str], letters: str, kept: set[int]) -> list[int]:
    """The lines of the sender's signature right under the text kept: a "-- " line and
    what follows it, or a mobile signature, up to the quoted mail (which has its own)."""
    start = max(kept, default=-1) + 1
    while start < len(letters) and letters[start] == EMPTY:
        start += 1
    if start >= len(letters) or not (
        letters[start] == SIGNATURE
        or (letters[start] == DELIMITER and _SIGNATURE_DELIMITER_RE.fullmatch(lines[start]))
    ):
        return []
    end = start + 1
    while end < len(letters) and letters[end] not in (QUOTE, EMBEDDED, HEADER, DELIMITER):
        end += 1
    return list(range(start, end))


def _is_only_quoted_mail(lines: list[str], letters: str) -> bool:
    """Outlook's quote of a mail with nothing typed above it: its "-----Original
    Message-----" (or its line of underscores), then the header block of the mail quoted
    ("From:", "Sent:" …). The unquoted text under the headers is that mail, not a reply
    written below it; Outlook writes the same for a forward, whose note is above too."""
    opens = letters[:1] == DELIMITER or (letters[:1] == EMBEDDED and bool(_OUTLOOK_ORIGINAL_RE.match(lines[0])))
    return opens and letters[1:].lstrip(EMPTY).startswith(HEADER * 2)


def trim_reply(text: str) -> Trimmed:
    """Split a plain-text reply into its new text, the quoted rest and the signature between.
    A text longer than :data:`MAX_TRIMMED_CHARS` is all new text."""
    if not text or not text.strip():
        return Trimmed("", "")
    if len(text) > MAX_TRIMMED_CHARS:
        return Trimmed(_normalize_newlines(text).strip(), "")
    lines = _preprocess(text)
    letters = _classify_all(lines)
    if _is_only_quoted_mail(lines, letters):
        everything = "\n".join(lines)
        return Trimmed("", everything, quoted=everything)
    state = _Lines(letters)
    _trim_pattern(state)
    kept = set(state.index)
    signature = _own_signature(lines, letters, kept)
    body = "\n".join(lines[i] for i in state.index).strip()
    elided = "\n".join(line for i, line in enumerate(lines) if i not in kept).strip()
    quoted = "\n".join(line for i, line in enumerate(lines) if i not in kept and i not in signature).strip()
    own = "\n".join(lines[i] for i in signature if not _SIGNATURE_DELIMITER_RE.fullmatch(lines[i])).strip()
    return Trimmed(body, elided, own, quoted)


def trim_html(html: str) -> str:
    """Remove quoted-reply containers from an HTML reply, keeping the new part."""
    return strip_quote_containers(
        html, is_attribution=is_attribution_line, is_header=_is_email_header
    )

