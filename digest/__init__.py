"""Daily and weekly digests.

``slots``: when each member's digest falls due. ``excerpt`` and ``render``: what a digest
says, as plain text and HTML blocks. ``build``: a run's digests, each block rendered once.
``run``: queueing them, exactly once per member and slot, and previews. ``scheduler``:
the job inside ``listbridge serve`` that runs them as they fall due.
"""
