"""Gettext catalogues compiled when they are first needed, for every part that translates.

The ``.mo`` files are not kept in the repository: a catalogue is compiled when its ``.mo``
is missing or older than its ``.po``, so a catalogue edited and deployed is never served
stale. The web compiles its own catalogue with this when it starts; mail compiles the
mail catalogue (:mod:`forum.mail_language`) the first time a process writes in Welsh.
"""

from __future__ import annotations

import logging
import os
import tempfile
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

log = logging.getLogger(__name__)


def compiled_translations(source: Path) -> Path:
    """A directory holding every catalogue of ``source`` compiled, for gettext to load.

    The catalogues are compiled in place; where the installed package may not be written
    (a read-only install served by another user), into a directory of the system's temporary
    files instead. Each ``.mo`` is written whole and then renamed, so several processes
    starting at once never read half of one.
    """
    try:
        compile_catalogues(source, source)
        return source
    except OSError:
        target = Path(tempfile.gettempdir()) / f"listbridge-translations-{os.getuid()}"
        log.warning("cannot write compiled catalogues beside %s; compiling them into %s", source, target)
        compile_catalogues(source, target)
        return target


def compile_catalogues(source: Path, target: Path) -> list[Path]:
    """Compile each ``source/LANG/LC_MESSAGES/*.po`` to ``target/…/*.mo`` if missing or stale."""
    written = []
    for po in sorted(source.glob("*/LC_MESSAGES/*.po")):
        mo = target / po.relative_to(source).with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as file:
            catalog = read_po(file, locale=po.parts[-3])
        compiled = BytesIO()
        write_mo(compiled, catalog, use_fuzzy=False)  # a fuzzy guess is never served
        mo.parent.mkdir(parents=True, exist_ok=True)
        partial = mo.with_name(f".{mo.name}.{os.getpid()}")
        partial.write_bytes(compiled.getvalue())
        os.replace(partial, mo)
        written.append(mo)
    return written
