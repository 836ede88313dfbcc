"""The sender's signature and their organisation's disclaimer, told apart from the text.

Outlook users sign every mail with a block (name, title, council, phone numbers, web
address, logo) and their mail server adds a confidentiality disclaimer under it; both
come back in every reply, longer than most replies. They are moved out of the post's
text into its ``signature``, which the archive folds (as it folds quoted text) and copies,
digests and chat leave out.

A signature is recognised by its shape, not its words: a run of short lines at the end
of the text, after a sign-off ("Kind regards", "Diolch") and the sender's name, or, with
no sign-off, one or more short blocks with contact details in them. A disclaimer is
recognised by the phrases such notices are made of, in English and Welsh. What is not
clearly either stays in the post: a missed signature costs space, a wrong one hides words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Split", "split_signature"]


@dataclass(frozen=True)
class Split:
    body: str
    signature: str


_DISCLAIMER = re.compile(
    r"th(?:is|e) (?:e-?mail|message|communication|transmission)[\w ,()]{0,40}? (?:and|including|together with)"
    r" any (?:files|attachments)"
    r"|intended (?:solely |only )?for the (?:use of the |exclusive use of the )?(?:individual|addressee|person|named"
    r"|recipient|intended)"
    r"|if you (?:are not|have received) (?:the intended|this (?:e-?mail|message|communication) (?:in error|by mistake))"
    r"|(?:e-?mails?|communications?|messages?) (?:sent |to and from |sent to or from |to or from )?.{0,60}"
    r"(?:may|will) be (?:monitored|recorded|intercepted)"
    r"|freedom of information act|data protection act \d{4}|uk gdpr"
    r"|views (?:or opinions )?expressed .{0,80}(?:are (?:solely )?those of|do not necessarily)"
    r"|we welcome correspondence in welsh|consider the environment before printing|think before you print"
    r"|\bvirus(?:es)? .{0,80}(?:checked|scanned|free|responsibility|liability)"
    # Welsh
    r"|(?:derbynnydd|derbynwyr) bwriadedig|yn gyfrinachol|os (?:ydych wedi derbyn|nad chi yw)"
    r"|croesawu gohebiaeth yn gymraeg|deddf rhyddid gwybodaeth|ystyriwch yr amgylchedd",
    re.I,
)
_SIGN_OFF = re.compile(
    r"(?:(?:kind|best|warm|warmest|many|with kind|with best|yours|all the|kindest)\s+)?"
    r"(?:regards|wishes|thanks|thank you|cheers|sincerely|faithfully|truly)(?:\s+(?:again|all))?"
    r"|thanks(?: again| all| very much| so much)?|many thanks|cheers|best|ta|yours"
    r"|diolch(?: yn fawr)?|cofion(?: gorau| cynnes)?|yn gywir|gyda diolch|cofion/regards|diolch/thanks"
    r"|regards/cofion|thanks/diolch",
    re.I,
)
_PHONE = re.compile(
    r"(?:\b(?:tel|telephone|phone|mob|mobile|direct|dd|ext|fax|ff[ôo]n|symudol|switchboard|t|m|p)\b\.?\s*[:.]?\s*"
    r"[+(]?\d)|(?:\+44\s?\(?0?\)?\s?|\b0)\d{2,4}[\s-]?\d{3,4}[\s-]?\d{3,4}\b",
    re.I,
)
_CUES = (
    _PHONE,
    re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),
    re.compile(r"\bhttps?://|\bwww\.[\w-]+", re.I),
    re.compile(r"\[(?:cid|image)[:\s]", re.I),
    re.compile(
        r"\b(?:council|cyngor|borough|county|authority|awdurdod|department|directorate|services?"
        r"|team|tîm|officer|swyddog|manager|rheolwr|adviser|advisor|cynghorydd|director|cyfarwyddwr"
        r"|coordinator|co-ordinator|head of|assistant|consultant|partnership|association"
        r"|trust|ltd|limited|plc|llp|cic|charity)\b",
        re.I,
    ),
    re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}\b"),  # a UK postcode
    re.compile(
        r"\b(?:she/her|he/him|they/them|pronouns|working (?:days|hours|pattern)|follow us"
        r"|twitter|linkedin|facebook|instagram)\b",
        re.I,
    ),
)
# Cues that identify a person's contact details, as a URL alone (a footnote) does not.
_CONTACT_CUES = _CUES[:2] + _CUES[3:4]
# "Signed-off-by: A <a@b>", "Cc: …": trailers and header lines, not a signature.
_LABELLED_ADDRESS = re.compile(r"^[\w-]+:\s.*@")
_MAX_LINE = 100
_MAX_BLOCK_LINES = 14
_MAX_NAME_WORDS = 5


def _is_cue(line: str) -> bool:
    return any(cue.search(line) for cue in _CUES)


def _is_prose(line: str) -> bool:
    """A sentence, not a signature line: long, or a several-word line ending a sentence."""
    stripped = line.strip()
    if len(stripped) > _MAX_LINE or stripped.startswith(">") or _LABELLED_ADDRESS.match(stripped):
        return True
    return (
        stripped.endswith((".", "?", "!", ":"))
        and len(stripped.split()) >= 7
        and not any(cue.search(stripped) for cue in _CUES[:3])
    )


def _is_sign_off(line: str) -> bool:
    return len(line) <= 40 and bool(_SIGN_OFF.fullmatch(line.strip().rstrip(",.!-– ")))


def _is_name(line: str) -> bool:
    words = line.strip().split()
    return 0 < len(words) <= _MAX_NAME_WORDS and not any(c.isdigit() for c in line) and not _is_cue(line)


def _paragraphs(lines: list[str], start: int, end: int) -> list[tuple[int, int]]:
    """(first, last + 1) of the blank-separated blocks of ``lines[start:end]``."""
    found, first = [], None
    for i in range(start, end):
        if lines[i].strip():
            first = i if first is None else first
        elif first is not None:
            found.append((first, i))
            first = None
    if first is not None:
        found.append((first, end))
    return found


def _disclaimer_start(lines: list[str]) -> int:
    """Where the disclaimers at the end begin (``len(lines)`` if there are none)."""
    start = len(lines)
    blocks = _paragraphs(lines, 0, len(lines))
    for first, last in reversed(blocks[1:]):
        text = " ".join(" ".join(lines[first:last]).split())
        if _DISCLAIMER.search(text):
            start = first
        elif not all(_is_cue(line) or not _is_prose(line) for line in lines[first:last]):
            break
    return start


def _contact_block_start(lines: list[str], end: int) -> int:
    """Where the signature block before ``end`` begins (``end`` if there is none)."""
    while end > 0 and not lines[end - 1].strip():
        end -= 1
    run = end
    while run > 0 and end - run < _MAX_BLOCK_LINES and not _is_prose(lines[run - 1]):
        run -= 1
    sign_off = next((i for i in range(end - 1, run - 1, -1) if _is_sign_off(lines[i])), None)
    if sign_off is not None:
        start = sign_off + 1
        while start < end and not lines[start].strip():
            start += 1
        if start < end and _is_name(lines[start]):  # the name signed with stays in the text
            start += 1
        while start < end and not lines[start].strip():
            start += 1
        return start if any(_is_cue(line) for line in lines[start:end]) and end - start <= _MAX_BLOCK_LINES else end
    start = end
    cues = 0
    for first, last in reversed(_paragraphs(lines, run, end)):
        block_cues = sum(_is_cue(line) for line in lines[first:last])
        if not block_cues or any(_is_prose(line) for line in lines[first:last]):
            break
        start, cues = first, cues + block_cues
    block = lines[start:end]
    if (
        cues < 2
        or not any(any(cue.search(line) for cue in _CONTACT_CUES) for line in block)
        or not any(line.strip() for line in lines[:start])
    ):
        return end
    # The name heading the block stays with it: it is part of the signature.
    return start


def split_signature(text: str) -> Split:
    """``text`` without the signature block and disclaimers at its end, and those."""
    lines = text.rstrip().split("\n")
    end = _disclaimer_start(lines)
    start = _contact_block_start(lines, end)
    if start >= len(lines) or not any(line.strip() for line in lines[:start]):
        return Split(text, "")
    return Split("\n".join(lines[:start]).rstrip(), "\n".join(lines[start:]).strip())
