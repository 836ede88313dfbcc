"""What corporate mail filters add, taken off: rewritten links, banners, subject tags."""

from __future__ import annotations

import time

import pytest

from mailgateway.text.clutter import clean_html, clean_subject, clean_text, is_banner, unwrap_url

GOVUK = "https://www.gov.uk/guidance/damp?a=1&b=2"


@pytest.mark.parametrize(
    ("rewritten", "target"),
    [
        (
            "https://eur02.safelinks.protection.outlook.com/?url=https%3A%2F%2Fwww.gov.uk%2Fguidance%2Fdamp%3Fa%3D1%26b%3D2"
            "&data=05%7C02%7Calice%40council.gov.uk%7C3f1c&sdata=abc%3D&reserved=0",
            GOVUK,
        ),
        (
            "https://gbr01.safelinks.protection.outlook.com/?url=https%3A%2F%2Fexample.org%2F&data=x",
            "https://example.org/",
        ),
        (
            "https://urldefense.proofpoint.com/v1/url?u=http%3A%2F%2Fwww.example.org%2Fa&k=abc",
            "http://www.example.org/a",
        ),
        (
            "https://urldefense.proofpoint.com/v2/url?u=https-3A__www.example.org_path-3Fq-3D1&d=DwMF&c=x&r=y&m=z&s=w&e=",
            "https://www.example.org/path?q=1",
        ),
        (
            "https://urldefense.com/v3/__https://www.example.org/a*b?c=d__;Iw!!ABC!xyz$",
            "https://www.example.org/a#b?c=d",
        ),
        ("https://urldefense.com/v3/__https://example.org/plain__;!!ABC!xyz$", "https://example.org/plain"),
        (
            "https://linkprotect.cudasvc.com/url?a=https%3a%2f%2fwww.cieh.org%2fdamp&c=E,1,x&typo=1",
            "https://www.cieh.org/damp",
        ),
        (
            "https://imsva91-ctp.trendmicro.com:443/wis/clicktime/v1/query?url=https%3a%2f%2fnrla.co.uk%2fx&umid=1",
            "https://nrla.co.uk/x",
        ),
        # A Safe Link around a URL Defense link
        (
            "https://eur02.safelinks.protection.outlook.com/?url=https%3A%2F%2Furldefense.com%2Fv3%2F__https%3A%2F%2F"
            "example.org%2Fx__%3B!!A!b%24&data=1",
            "https://example.org/x",
        ),
        # Mimecast keeps the target to itself: only its domain can be given back
        ("https://protect-eu.mimecast.com/s/Xy3ZCkqDwiPwR7Yt0?domain=eventbrite.co.uk", "https://eventbrite.co.uk"),
        ("https://www.gov.uk/untouched", "https://www.gov.uk/untouched"),
    ],
)
def test_rewritten_links_are_unwrapped_to_their_targets(rewritten: str, target: str) -> None:
    assert unwrap_url(rewritten) == target


def test_a_link_whose_target_cannot_be_read_is_not_kept() -> None:
    assert unwrap_url("https://eur02.safelinks.protection.outlook.com/?data=only") == ""
    assert unwrap_url("https://eur02.safelinks.protection.outlook.com/?url=javascript%3Aalert(1)") == ""


@pytest.mark.parametrize(
    "banner",
    [
        "CAUTION: This email originated from outside of the organisation. Do not click links or open attachments "
        "unless you recognise the sender and know the content is safe.",
        "[EXTERNAL] This email originated from outside of the organization. Do not click links or open attachments "
        "unless you recognize the sender and know the content is safe.",
        "WARNING: This message came from an external source. Please exercise caution when opening attachments or links.",
        "EXTERNAL EMAIL: Do not click links or open attachments unless you know the sender.",
        "You don't often get email from alice@example.org. Learn why this is important",
        "RHYBUDD: Daeth yr e-bost hwn o'r tu allan i'r sefydliad. Peidiwch â chlicio ar ddolenni nac agor atodiadau.",
        "[ALLANOL] Mae'r e-bost hwn wedi dod o'r tu allan i'r sefydliad.",
        "This email has been scanned by the Mimecast service for viruses and spam.",
        "This message came from outside your organization.",
        "WARNING: This email originated outside of Anytown Borough Council. Do not click links.",
        "[External Sender] Be careful with links and attachments.",
    ],
)
def test_banners_are_recognised(banner: str) -> None:
    assert is_banner(banner)


@pytest.mark.parametrize(
    "prose",
    [
        "We commissioned an external contractor because the work came from outside the borough.",
        "Caution: the figures for March are provisional.",
        "The email originated from a tenant outside the office hours.",
        "We used a contractor (external) for the survey.",
        "Notice: the tenant is from outside the borough, so the referral goes to their council.",
        "This email is from an external consultant we hired; their report is attached.",
        "External wall insulation: the attachments show the damp patches.",
    ],
)
def test_prose_about_outside_and_external_is_kept(prose: str) -> None:
    assert not is_banner(prose)
    assert clean_text(f"Hello.\n\n{prose}\n") == f"Hello.\n\n{prose}\n"


@pytest.mark.parametrize(
    ("subject", "clean"),
    [
        ("[EXTERNAL] Landlord forum", "Landlord forum"),
        ("RE: [EXTERNAL] Re: [External Email] Landlord forum", "RE: Re: Landlord forum"),
        ("EXTERNAL: Landlord forum", "Landlord forum"),
        ("[ALLANOL] Cyfarfod / Meeting", "Cyfarfod / Meeting"),
        ("*EXTERNAL* Fwd: papers", "Fwd: papers"),
        ("[housing] External wall insulation", "[housing] External wall insulation"),
    ],
)
def test_subject_tags_are_removed(subject: str, clean: str) -> None:
    assert clean_subject(subject) == clean


def test_text_loses_banners_also_in_quoted_lines_and_keeps_the_rest() -> None:
    text = (
        "CAUTION: This email originated from outside of the organisation. Do not click links or open attachments "
        "unless you recognise the sender.\n\nSee https://eur02.safelinks.protection.outlook.com/?url=https%3A%2F%2F"
        "www.gov.uk%2F&data=05%7C02%7Cbob%40x.gov.uk for details.\n\n> [EXTERNAL] This email originated from outside "
        "of the organization.\n>\n> Quoted words\n"
    )
    assert clean_text(text) == "See https://www.gov.uk/ for details.\n\n> Quoted words\n"


def test_html_banner_split_over_elements_goes_with_its_box() -> None:
    html = (
        '<table style="background:#FFEB9C"><tr><td><b>CAUTION:</b> This email originated from outside of the '
        "organisation. Do not click links or open attachments unless you recognise the sender.</td></tr></table>"
        '<p>Hello, the <a href="https://nam12.safelinks.protection.outlook.com/?url=https%3A%2F%2Fexample.org%2Fa'
        '&amp;data=05%7C02%7Cx%40y.org">papers</a> are out. [EXTERNAL]</p>'
    )
    cleaned = clean_html(html)
    assert cleaned == '<p>Hello, the <a href="https://example.org/a">papers</a> are out. </p>'


def test_a_long_text_is_looked_through_quickly_and_in_any_case() -> None:
    text = "Words of a very long post, in lines of seventy-two characters at most.\n" * 360_000  # 25 MiB
    started = time.perf_counter()
    assert clean_text(text) == text
    assert time.perf_counter() - started < 1
    banner = "CAUTION: THIS EMAIL ORIGINATED FROM OUTSIDE OF THE ORGANISATION.\n\nHello."
    assert clean_text(banner) == "Hello."
