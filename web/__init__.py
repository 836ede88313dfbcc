"""The web archive: reading, searching, posting, accounts and moderation (Flask).

``create_app(settings)`` is the WSGI application, served by ``listbridge serve`` (gunicorn,
embedded, on ``[web] host, port``) or by a gunicorn of your own::

    gunicorn --workers 4 --bind 127.0.0.1:8080 'listbridge.wsgi:app'    # LISTBRIDGE_CONFIG names the file
"""

from __future__ import annotations

from web.app import create_app

__all__ = ["create_app"]
