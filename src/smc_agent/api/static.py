"""Serves the built dashboard (``web/`` built by ``scripts/build-web`` into ``static/dist``).

Without a build, ``/`` answers with a page that says how to build it (third-party code is never
committed; the bundle includes lightweight-charts and works offline).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

DIST = Path(__file__).resolve().parent / "static" / "dist"

NOT_BUILT = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>SMC Agent dashboard: not built</title>
<style>body{font:15px/1.5 system-ui,sans-serif;background:#0f1419;color:#d6dde6;max-width:46rem;margin:4rem auto;padding:0 1rem}
code,pre{background:#1b232c;padding:.15rem .35rem;border-radius:4px}pre{padding:1rem}</style></head><body>
<h1>Dashboard not built</h1>
<p>The API is running (<a href="/health" style="color:#6cb6ff">/health</a>,
<a href="/docs" style="color:#6cb6ff">/docs</a>), but the dashboard bundle is missing from
<code>src/smc_agent/api/static/dist/</code>.</p>
<p>Build it once (needs Node.js and npm; packages come from the npm registry, nothing is loaded from a CDN at run time):</p>
<pre>scripts/build-web</pre>
<p>which runs <code>npm ci &amp;&amp; npm run build</code> in <code>web/</code>, then reload this page.</p>
</body></html>"""


def dashboard_built(dist: Path = DIST) -> bool:
    return (dist / "index.html").is_file()


def mount_dashboard(app: FastAPI, dist: Path = DIST) -> None:
    @app.get("/", include_in_schema=False, response_model=None)
    def index() -> HTMLResponse | FileResponse:
        if dashboard_built(dist):
            return FileResponse(dist / "index.html", media_type="text/html")
        return HTMLResponse(NOT_BUILT, status_code=200)

    app.mount("/assets", StaticFiles(directory=dist / "assets", check_dir=False), name="assets")
