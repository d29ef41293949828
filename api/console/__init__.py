"""The ops console: server-rendered pages over the functions the JSON API uses.

Log in with a tenant's API key; a signed session cookie then carries the
tenant (:mod:`api.console.session`).  Each page module is a thin view; the
templates live in ``templates/``, the vendored assets in ``static/``.
"""

from api.console.app import create_console

__all__ = ["create_console"]
