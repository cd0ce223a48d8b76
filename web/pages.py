"""The pages the server shows a browser outside the API: the console at /, the ticket list,
and the API reference at /docs from local files (no CDN). The console's files themselves are
mounted at /static by server.py."""
from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import RedirectResponse, Response


def add_routes(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False)
    def index():
        return RedirectResponse("/static/console.html")

    @app.get("/docs", include_in_schema=False)
    def api_docs():
        from fastapi.openapi.docs import get_swagger_ui_html

        vendor = "/static/vendor/swagger-ui"
        return get_swagger_ui_html(openapi_url=app.openapi_url, title=f"{app.title} — API",
                                   swagger_js_url=f"{vendor}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{vendor}/swagger-ui.css",
                                   swagger_favicon_url=f"{vendor}/favicon-32x32.png")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon():
        return Response(status_code=204)

    @app.get("/tickets", include_in_schema=False)
    def tickets_page():
        return RedirectResponse("/static/tickets.html")
