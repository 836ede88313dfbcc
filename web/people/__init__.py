"""People on the web: the directory of members (finding an expert), a member's profile page
and photo, and the form where members keep their own profile.

The rules (who sees a profile, how people are ranked) live in the core
(``forum.profiles``, ``forum.people_search``); this package is forms and pages around them.
"""
