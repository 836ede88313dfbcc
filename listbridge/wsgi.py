"""The WSGI entry point for production servers: ``gunicorn 'listbridge.wsgi:app'``.

The configuration file is named by ``$LISTBRIDGE_CONFIG``. It lives with the runtime
rather than in ``web`` because the chat platforms, whose sections the file may have,
are registered first, as ``listbridge serve`` does.
"""

from forum.config import load
from listbridge import platforms
from web.app import create_app

platforms.register()
app = create_app(load())
