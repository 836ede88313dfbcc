"""The WSGI entry point for production servers: ``gunicorn 'web.wsgi:app'``.

The configuration file is named by ``$LISTBRIDGE_CONFIG``.
"""

from forum.config import load
from web.app import create_app

app = create_app(load())
