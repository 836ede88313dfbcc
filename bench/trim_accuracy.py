"""Print how well reply trimming agrees with the corpus's expected outputs.

    python bench/trim_accuracy.py

1. reply_trimmer (Discourse's email_reply_trimmer test suite): the trimmed
   body compared the way upstream compares it, ``strip`` then exact equality;
   the elided part is reported too.
2. discourse_receiver ``post_raw``: the Markdown post Discourse made from a
   whole MIME reply.  We produce plain text, not Markdown, so this comparison
   is loose: emphasis, Markdown escapes, images and the elided ``<details>``
   block are ignored, whitespace is collapsed and ``{{INTERPOLATED}}``
   matches anything.  Cases that only hold with trimming switched off are
   left out.

The corpus is read from ``$LISTBRIDGE_CORPUS`` or ``../shared/corpus``.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from mailgateway.text.htmltext import html_to_text  # noqa: E402
from mailgateway.text.parsing import MalformedMail, parse_message  # noqa: E402
from mailgateway.text.trimming import trim_html, trim_reply  # noqa: E402
from tests.corpus import corpus_dir  # noqa: E402

PREFER_HTML = "SiteSetting.incoming_email_prefer_html = true"
TRIMMING_OFF = "SiteSetting.trim_incoming_emails = false"


def _percent(part: int, whole: int) -> str:
    return f"{part}/{whole} ({100 * part / whole:.1f}%)" if whole else "0/0"


def reply_trimmer(corpus: Path) -> tuple[int, int, int, list[str]]:
    """(exact bodies, exact elided parts, cases, names of body failures)."""
    items = [
        json.loads(line)
        for line in (corpus / "MANIFEST.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    cases = [i for i in items if i["subset"] == "reply_trimmer" and i["kind"] == "reply_extraction"]
    exact = elided_exact = 0
    failures = []
    for item in cases:
        result = trim_reply((corpus / item["file"]).read_text(encoding="utf-8").strip())
        if result.body.strip() == (corpus / item["expected"]).read_text(encoding="utf-8").strip():
            exact += 1
        else:
            failures.append(Path(item["file"]).name)
        elided = (corpus / item["expected_extra"]["elided"]).read_text(encoding="utf-8").strip()
        elided_exact += result.elided == elided
    return exact, elided_exact, len(cases), failures


def _loose(text: str) -> str:
    """Text with Markdown decoration, images and layout whitespace removed."""
    text = re.sub(r"<details class='elided'>.*?</details>", " ", text, flags=re.S)
    text = re.sub(r"!?\[[^\]\n]*\]\([^)\n]*\)(?: \(\d+ Bytes\))?", " ", text)
    text = re.sub(r"\[image: [^\]]*\]", " ", text)
    text = text.replace("&lt;", "<").replace("&gt;", ">")
    text = re.sub(r"\\([\\`*_{}\[\]()#+\-.!<>])", r"\1", text)
    text = re.sub(r"[*_]+", "", text)
    return re.sub(r"\s+", " ", text).strip()


def _matches(ours: str, expected: str) -> bool:
    """Loose equality, with Discourse's {{INTERPOLATED}} placeholders as wildcards."""
    pattern = ".*?".join(re.escape(piece) for piece in _loose(expected).split("{{INTERPOLATED}}"))
    return re.fullmatch(pattern, _loose(ours), flags=re.S) is not None


def _our_post(raw: bytes, prefer_html: bool) -> str:
    """Trim as the gateway would: the HTML version when preferred or when it is all there is."""
    mail = parse_message(raw)
    html_only = mail.html is not None and mail.text == html_to_text(mail.html)
    if mail.html and (prefer_html or html_only):
        return trim_reply(html_to_text(trim_html(mail.html))).body
    return trim_reply(mail.text).body


def discourse_posts(corpus: Path) -> tuple[int, int, list[str]]:
    """(loosely equal posts, cases, failure descriptions)."""
    folder = corpus / "discourse_receiver"
    fixtures = json.loads((folder / "expectations.json").read_text(encoding="utf-8"))["fixtures"]
    matched = total = 0
    failures = []
    for fixture, expectations in fixtures.items():
        for expectation in expectations:
            if expectation["type"] != "post_raw" or TRIMMING_OFF in expectation["settings"]:
                continue
            total += 1
            try:
                ours = _our_post((folder / fixture).read_bytes(), PREFER_HTML in expectation["settings"])
            except MalformedMail as refusal:
                ours = f"<refused: {refusal}>"
            if _matches(ours, expectation["value"]):
                matched += 1
            else:
                failures.append(
                    f"{fixture} (line {expectation['spec_line']}): got {_loose(ours)[:70]!r}, "
                    f"expected {_loose(expectation['value'])[:70]!r}"
                )
    return matched, total, failures


def main() -> int:
    corpus = corpus_dir()
    if not (corpus / "MANIFEST.jsonl").is_file():
        print(f"email corpus not found at {corpus} (set LISTBRIDGE_CORPUS)", file=sys.stderr)
        return 2
    exact, elided, cases, failures = reply_trimmer(corpus)
    print(f"reply_trimmer: {_percent(exact, cases)} trimmed bodies exact (strip, then equality)")
    print(f"reply_trimmer: {_percent(elided, cases)} elided parts exact")
    for name in failures:
        print(f"  FAIL {name}")
    matched, total, post_failures = discourse_posts(corpus)
    print(f"discourse_receiver post_raw: {_percent(matched, total)} loosely equal (see module docstring)")
    for failure in post_failures:
        print(f"  FAIL {failure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
