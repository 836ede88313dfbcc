"""Chat bridges: Slack and Matrix behind one adapter protocol (:mod:`bridges.base`).

Outbound, a worker per platform (:mod:`bridges.worker`) sends the chat rows of the outbox;
inbound, each platform turns its events into :class:`bridges.inbound.ChatEvent` values
that :mod:`bridges.inbound` hands to ``forum.posting.submit_post``. Each platform is
described, settings and all, by a module of :mod:`bridges.platforms`.
"""
