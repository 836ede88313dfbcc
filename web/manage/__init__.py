"""Facilitators' pages: members, the moderation queue and a community's settings.

Only people who may moderate a community (``forum.access.can_moderate``) reach them. A
private community's pages answer 404 to anyone who cannot read it, as every other page
does; for one they can read, the answer is 403 with a plain reason, since the community's
existence is no secret to them.
"""
