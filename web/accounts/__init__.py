"""Accounts and taking part on the web: signing in by emailed link, the profile, joining
and leaving, posting and replying, and the unsubscribe pages every mail links to.

The rules live in the core (``forum.accounts``, ``forum.posting``); this package is forms,
pages and redirects around them.
"""

from web.accounts import joining as joining  # its views join the accounts blueprint
