"""What one line of a reply is: the letters the reply trimmer decides by.

Every line is classified into one letter -- empty, delimiter, signature, emBedded-email
marker, email header, quote or text. The matchers know the shapes mail clients write in
the languages their users send from: "On <date>, X wrote:" attributions, Outlook's
"-----Original Message-----" and header blocks ("From:", "Sent:"), "Sent from my iPhone".
They only look at lines short enough to be a marker, so a pathological line costs no more
than reading it.
"""

from __future__ import annotations

import re
from functools import lru_cache

EMPTY = "e"
DELIMITER = "d"
SIGNATURE = "s"
EMBEDDED = "b"
HEADER = "h"
QUOTE = "q"
TEXT = "t"

# Attribution, header and signature lines are short; anything longer is text.
# The cap also bounds the cost of every line regex below.
MAX_MARKER_LEN = 400


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
    if not stripped or len(stripped) > MAX_MARKER_LEN or stripped.strip(_DELIMITER_CHARS):
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
WROTE = rf"(?:(?<!\w)(?:{_WROTE_WORDS}|{_SAID_WORDS})(?!\w)|{_WROTE_CJK})"
# Verbs that come before the name: "Am <date> schrieb <name>:"
_WROTE_BEFORE_NAME = (
    r"(?<!\w)(?:schrieb|skrev|schreef|wrote|escribi[óo]|a [ée]crit|ha scritto"
    r"|escreveu|napisa[łl](?:\(a\))?|kirjoitti)(?!\w)"
)
# A year (19xx/20xx), a time (10:30, 20.42, 10h30) or a numeric date (1/2/2016).
# It starts with a plain digit so the engine can skip quickly to digits; the
# lookbehinds then check what precedes that first digit.
_DATE_LIKE = r"\d(?<!\d\d)(?:(?<=1)9\d\d|(?<=2)0\d\d|\d?[:.h]\d\d|\d?[/.-]\d{1,2}[/.-]\d{2,4})(?!\d)"
_DATE_LIKE_RE = re.compile(_DATE_LIKE)
# Anchored at the start of a word so that a long run of word characters
# without "@" is scanned once, not once per starting position.
EMAIL_RE = re.compile(r"(?<![\w.+'-])[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
_TRAILER = r"[\s.:：>*)\-]*$"

# "On <date>, <someone> wrote:" and its translations.  These two are searched
# for near the end of the line only (see search_tail): trying a long
# alternation of words at every position of a long line is what costs.
_ENDS_WITH_WROTE_RE = re.compile(rf"(?P<verb>{WROTE})(?P<trailer>{_TRAILER})", re.I)
_SAID_RE = re.compile(_SAID_WORDS, re.I)
# "Am <date> schrieb <someone>:", "<someone> wrote on <date>:"
_WROTE_THEN_NAME_RE = re.compile(rf"{_WROTE_BEFORE_NAME}\s.{{1,160}}?[:：]\s*$", re.I)
_TAIL_LENGTH = 200
# "2013/7/20 someone <someone@example.com>" (Gmail), "вт, 5 янв. 2016 г. в 23:39, X <x@y.z>:"
_DATE_THEN_ADDRESS_RE = re.compile(
    rf"^[\s>]*(?=.{{0,40}}?(?:{_DATE_LIKE})).{{1,200}}?<\s*[^<>@\s]+@[^<>\s]+>\s*[:：]?\s*$"
)
# "2016-03-03 17:21 GMT+01:00 Some One" (old Gmail)
_ISO_DATE_NAME_RE = re.compile(r"^[\s>]*\d{4}-\d\d-\d\d \d{1,2}:\d\d GMT[+-]\d{1,2}(?::?\d\d)? [^<>@\n]{1,80}$")
# "* Some One <some@one.example> [2024-03-04 10:15]:" (a common mutt setting)
_MUTT_ATTRIBUTION_RE = re.compile(r"^[\s>]*\* .{1,100}<[^<>@\s]+@[^<>\s]+> \[\d{4}-\d\d-\d\d[^\]]{0,40}\]:\s*$")
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
OUTLOOK_ORIGINAL_RE = _dashed(_ORIGINAL_PHRASES)
_FORWARD_INTRO_RE = re.compile(
    r"^[\s>*]*(?:begin forwarded message|d[ée]but du message (?:transf[ée]r[ée]|r[ée]exp[ée]di[ée])"
    r"|anfang der weitergeleiteten (?:nachricht|e-mail)|inicio del mensaje reenviado"
    r"|inizio messaggio inoltrato|in[íi]cio da mensagem (?:reencaminhada|encaminhada)"
    r"|begin doorgestuurd bericht|vidarebefordrat (?:mejl|meddelande)"
    r"|начало переадресованного сообщения)\s*[:：]",
    re.I,
)


# How attributions begin: a date, or "On"/"Le"/"Am"/... in the languages above.
MARKER_START_RE = re.compile(
    r"^[\s>*\-]*(?:\d|(?:on|at|le|am|op|il|em|el|dnia|w dniu|den|dne|dňa|på|pe|στις"
    r"|in message|begin|posted by)(?!\w)|在)",
    re.I,
)


def has_attribution_evidence(line: str) -> bool:
    """Attributions carry a date, an address or a "via" list name.

    Requiring one of them keeps prose such as "As I wrote:" or
    "On this day I wrote something" from being taken for a quote header.
    """
    return bool(_DATE_LIKE_RE.search(line) or ("@" in line and EMAIL_RE.search(line)) or " via " in line.lower())


def search_tail(regex: re.Pattern[str], line: str) -> re.Match[str] | None:
    """Search only the end of the line (lookbehinds still see what precedes it)."""
    return regex.search(line, max(0, len(line) - _TAIL_LENGTH))


@lru_cache(maxsize=4096)
def is_wrote_attribution(line: str) -> bool:
    """An "On <date>, X wrote:" style line, in any supported language.

    Without a colon after "wrote" the line must also begin like an
    attribution, so that a sentence ending in "... as Bob wrote" stays text.
    """
    if len(line) > 2 * MAX_MARKER_LEN or not has_attribution_evidence(line):
        return False
    match = search_tail(_ENDS_WITH_WROTE_RE, line)
    if match:
        has_colon = bool(re.search("[:：]", match.group("trailer")))
        if has_colon or (not _SAID_RE.fullmatch(match.group("verb")) and MARKER_START_RE.match(line)):
            return True
    return bool(search_tail(_WROTE_THEN_NAME_RE, line))


def _is_date_then_address(line: str) -> bool:
    """Gmail's "<date> Name <address>:" -- with the colon, or with the date first."""
    return bool(_DATE_THEN_ADDRESS_RE.match(line)) and (
        line.rstrip().endswith((":", "：")) or bool(re.match(r"[\s>]*\d", line))
    )


@lru_cache(maxsize=4096)
def is_embedded_marker(line: str) -> bool:
    """A line that introduces an embedded (quoted or forwarded) email."""
    if len(line) > 2 * MAX_MARKER_LEN:
        return False
    return (
        is_wrote_attribution(line)
        or _is_date_then_address(line)
        or bool(_ISO_DATE_NAME_RE.match(line))
        or bool(_MUTT_ATTRIBUTION_RE.match(line))
        or bool(_POSTED_BY_RE.match(line))
        or bool(_ORIGINAL_MESSAGE_RE.match(line))
        or bool(_FORWARD_INTRO_RE.match(line))
    )


def is_attribution_line(line: str) -> bool:
    """Whether ``line`` introduces quoted/forwarded mail ("On ... wrote:")."""
    return is_embedded_marker(line.strip())


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


def is_email_header(line: str) -> bool:
    """A "From: ..." / "Gesendet: ..." line of an embedded header block."""
    if len(line) > MAX_MARKER_LEN:
        return False
    return bool(_DATE_HEADER_RE.match(line) or _TEXT_HEADER_RE.match(line))


def is_header_line(line: str) -> bool:
    """Whether ``line`` is a line of a quoted mail's header block ("From: ...", "Sent: ...")."""
    return is_email_header(line.strip())


def _is_quote(line: str) -> bool:
    return line.lstrip().startswith(">")


def classify(line: str) -> str:
    """One letter describing the line; the order of the checks matters."""
    if not line.strip():
        return EMPTY
    if _is_delimiter(line) or _is_reply_above_marker(line):
        return DELIMITER
    if _is_signature(line):
        return SIGNATURE
    if is_embedded_marker(line):
        return EMBEDDED
    if is_email_header(line):
        return HEADER
    if _is_quote(line):
        return QUOTE
    return TEXT
