"""The web dashboard `clearance serve` answers at ``/``: pages over the same use cases.

``routes.router`` holds the pages; ``install`` adds them and their vendored stylesheet to
the API's app. No front-end build and no asset from elsewhere: the pages work offline.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles


def install(app: FastAPI) -> None:
    """Mount the pages and their static files on ``app``."""
    from clearance.web.routes import STATIC, router

    app.mount("/static/web", StaticFiles(directory=STATIC), name="web-static")
    app.include_router(router)
