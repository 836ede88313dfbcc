"""The language a post is written in: Welsh ("cy"), English ("en"), or "" when unknown.

Stored with every post (``posts.language``) by the one door, so the web marks a Welsh post
on an English page (``lang="cy"``) and search indexes it as Welsh: without English
stemming (forum.search).

The detector is py3langid (langid.py's naive Bayes model over byte n-grams, which knows
Welsh), restricted to the two languages the site speaks, so it only has to tell one from
the other. It reads at most DETECTED_CHARS of a post: enough to decide, and a long post
costs no more than a short one. Below MIN_LETTERS letters ("Diolch!", "+1") or a doubtful
answer, a text says too little; the post is then taken to be in its author's language,
else its community's (a bilingual community's says nothing), else "".
"""

from __future__ import annotations

from functools import cache
from itertools import islice
from typing import Any

from forum.languages import MEMBER_LANGUAGES
from forum.subjects import strip_prefixes

UNKNOWN = ""
DETECTED_CHARS = 1000
MIN_LETTERS = 20
MIN_CONFIDENCE = 0.9  # the model's probability of its answer, of cy and en alone


def post_language(subject: str, body: str, *fallbacks: str | None) -> str:
    """ "cy" or "en" for a post's ``subject`` (its "Re:" left out) and ``body``; for a text
    too short or doubtful to tell, the first of ``fallbacks`` that is "cy" or "en" (the
    author's language, then the community's), else ""."""
    sample = f"{strip_prefixes(subject)}\n{body[:DETECTED_CHARS]}"[:DETECTED_CHARS]
    if next(islice((c for c in sample if c.isalpha()), MIN_LETTERS - 1, None), None) is not None:
        language, confidence = _identifier().classify(sample)
        if confidence >= MIN_CONFIDENCE and language in MEMBER_LANGUAGES:
            return str(language)
    for setting in fallbacks:
        if setting in MEMBER_LANGUAGES:
            return str(setting)
    return UNKNOWN


@cache
def _identifier() -> Any:
    """The model, loaded on first use (a fraction of a second, once per process)."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(list(MEMBER_LANGUAGES))
    return identifier
