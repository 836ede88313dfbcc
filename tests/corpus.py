"""Where the shared, read-only email corpus is, and what its manifest says.

The corpus is read in place (it is large and not ours to copy into the repo):
from ``$LISTBRIDGE_CORPUS`` if set, else from ``../shared/corpus`` beside the
repository.  A developer without it gets visible skips; CI (``CI=true``)
fails instead, so a green CI run always means the corpus tests really ran.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def corpus_dir() -> Path:
    """The corpus folder (which may not exist)."""
    configured = os.environ.get("LISTBRIDGE_CORPUS")
    return Path(configured) if configured else REPO_ROOT.parent / "shared" / "corpus"


def require_corpus() -> Path:
    """The corpus folder, or skip the test (fail it in CI) when it is missing."""
    path = corpus_dir()
    if not (path / "MANIFEST.jsonl").is_file():
        reason = f"email corpus not found at {path} (set LISTBRIDGE_CORPUS)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@cache
def _manifest(path: Path) -> tuple[dict, ...]:
    with (path / "MANIFEST.jsonl").open(encoding="utf-8") as lines:
        return tuple(json.loads(line) for line in lines if line.strip())


def manifest() -> list[dict]:
    """One dict per corpus item; empty when the corpus is missing (tests then skip)."""
    path = corpus_dir()
    if not (path / "MANIFEST.jsonl").is_file():
        return []
    return list(_manifest(path))
