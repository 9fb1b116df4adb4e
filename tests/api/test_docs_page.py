"""/docs works offline: the page and every asset it loads come from the server itself."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from clearance.adapters.clock import SystemClock
from clearance.api.app import SWAGGER_UI, create_app
from clearance.workspace import init_workspace


def test_docs_loads_nothing_from_another_origin(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "ws", clock=SystemClock())
    with TestClient(create_app(ws)) as client:
        page = client.get("/docs")
        assert page.status_code == 200
        assert "'self'" in page.headers["content-security-policy"]
        urls = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", page.text)
        assert "/openapi.json" in urls
        assert urls and all(u.startswith("/") and not u.startswith("//") for u in urls), urls
        for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"):
            served = client.get(f"/static/swagger-ui/{asset}")
            assert served.status_code == 200
            assert served.content == (SWAGGER_UI / asset).read_bytes()
            assert f"/static/swagger-ui/{asset}" in urls
        assert client.get("/redoc").status_code == 404  # no page that needs a CDN
        assert client.get("/static/swagger-ui/../app.py").status_code == 404
    ws.engine.dispose()
