"""Daily and weekly digests.

``slots``: when each member's digest falls due. ``excerpt``, ``render`` and its
``templates``: what a digest says, as plain text and HTML blocks, in words gettext can
translate. ``build``: a run's digests, each block rendered once.
``run``: queueing them, exactly once per member and slot, and previews. ``scheduler``:
the job inside ``listbridge serve`` that runs them as they fall due.
"""
