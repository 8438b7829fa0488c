"""The web console under ``/console``: server-rendered pages for command centres, departments
and assessors (FastAPI + Jinja2, zh-CN by default with an English switch).

Pages call the same engine services and queries as the HTTP API, as the logged-in account's
actor; sessions are rows (``engine.login``), and every form carries the session's CSRF token.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api.console import views
from api.console.headers import ConsoleHeadersMiddleware
from api.console.web import HERE
from api.ratelimit import LoginLimiter


def page_modules() -> list[ModuleType]:
    """Every module of ``api.console.views``, by name; each has a ``router``."""
    names = sorted(m.name for m in pkgutil.iter_modules(views.__path__))
    return [importlib.import_module(f"{views.__name__}.{name}") for name in names]


def install(app: FastAPI) -> None:
    """Mount the console's pages and static files on ``app``."""
    settings = app.state.settings
    app.state.login_limiter = LoginLimiter(
        app.state.redis, limit=settings.login_rate_limit, window=settings.login_rate_window
    )
    for module in page_modules():
        app.include_router(module.router)
    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")
    app.add_middleware(ConsoleHeadersMiddleware)
