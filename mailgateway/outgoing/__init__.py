"""Mail out: each member's personal copy and the site's notices composed, signed with
DKIM and delivered to the smarthost from the outbox. Never imports mail in."""
