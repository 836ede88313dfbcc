"""Signatures and disclaimers told apart from what the sender wrote."""

from __future__ import annotations

import pytest

from mailgateway.text.signatures import split_signature

DISCLAIMER = (
    "This email and any attachments are confidential and intended solely for the addressee. If you have "
    "received this email in error please notify the sender."
)
WELSH = (
    "Mae'r e-bost hwn yn gyfrinachol ac wedi'i fwriadu ar gyfer y derbynnydd bwriadedig yn unig.\n\n"
    "Rydym yn croesawu gohebiaeth yn Gymraeg. We welcome correspondence in Welsh."
)


@pytest.mark.parametrize(
    ("text", "body", "signature"),
    [
        (
            "We use a framework contractor.\n\nKind regards,\nJane\n\nJane Smith\nHousing Options Manager | Anytown "
            f"Borough Council\nTel: 01234 567890 | Mob: 07700 900123\nwww.anytown.gov.uk\n\n{DISCLAIMER}",
            "We use a framework contractor.\n\nKind regards,\nJane",
            "Jane Smith\nHousing Options Manager | Anytown Borough Council\nTel: 01234 567890 | Mob: 07700 900123\n"
            f"www.anytown.gov.uk\n\n{DISCLAIMER}",
        ),
        (
            "Agreed.\n\nThanks\nBob Jones\nSenior Housing Adviser\nWestshire Council\nT: 01632 960123",
            "Agreed.\n\nThanks\nBob Jones",
            "Senior Housing Adviser\nWestshire Council\nT: 01632 960123",
        ),
        # Outlook's HTML rendered as text: a paragraph per line
        (
            "Our figures are 62%.\n\nRegards\n\nBob\n\nBob Hughes | Officer\n\nDirect dial: 01632 960 412",
            "Our figures are 62%.\n\nRegards\n\nBob",
            "Bob Hughes | Officer\n\nDirect dial: 01632 960 412",
        ),
        # No sign-off: a block of contact details
        (
            "We meet on Tuesday at 10:00 in the council chamber.\n\nCarol Davies\nTenancy Sustainment Officer\n"
            "carol.davies@westshire.gov.uk\n07700 900456",
            "We meet on Tuesday at 10:00 in the council chamber.",
            "Carol Davies\nTenancy Sustainment Officer\ncarol.davies@westshire.gov.uk\n07700 900456",
        ),
        (f"Diolch am hyn.\n\nCofion,\nCarys\n\n{WELSH}", "Diolch am hyn.\n\nCofion,\nCarys", WELSH),
    ],
)
def test_signature_blocks_and_disclaimers_are_split_off(text: str, body: str, signature: str) -> None:
    split = split_signature(text)
    assert (split.body, split.signature) == (body, signature)


@pytest.mark.parametrize(
    "text",
    [
        "Thanks, that helps.\n\nBob",
        "Please see the Council's policy at www.example.gov.uk/policy which explains it.",
        "Call the team on 01632 960123 if the tenant is vulnerable.\n\nThanks\nBob",
        "Is the information in the report confidential, or can I share it with the tenant?\n\nAlice",
        "Who to call:\nHousing Options Manager\nTel: 01632 960123",  # the whole message is contact details
        "Steps:\n- inspect within 14 days\n- photograph every room\n- write to the tenant",
    ],
)
def test_text_that_is_not_a_signature_stays(text: str) -> None:
    assert split_signature(text).body == text and split_signature(text).signature == ""
