"""The ASGI application built from the environment, for servers that take ``module:attribute``.

``uvicorn api.asgi:app`` (or ``whistle api``, which uses the factory ``api.app:create_app``).
"""

from api.app import create_app

app = create_app()
