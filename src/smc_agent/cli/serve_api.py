"""``smc-agent serve api-gateway|websocket-service|web-app --host H --port P``.

Register in ``main.py`` with ``serve_api.register(serve_app)`` on the ``serve`` sub-app (or
``app.add_typer(serve_api.app, name="serve")`` if no other module owns ``serve``).
"""

from __future__ import annotations

from collections.abc import Collection

import typer

from smc_agent.cli.common import console, container

app = typer.Typer(help="Run one service of the system.", no_args_is_help=True)

ROLES = {"api-gateway": ("api",), "websocket-service": ("ws",), "web-app": ("web",)}


def run_app(roles: Collection[str], host: str | None, port: int | None, name: str) -> None:
    import uvicorn

    from smc_agent.api.app import create_app
    from smc_agent.api.static import dashboard_built

    with container() as c:
        bind_host = host or c.settings.api_host
        bind_port = port or c.settings.api_port
        application = create_app(c, roles=roles)
        if "web" in roles and not dashboard_built():
            console.print("[yellow]dashboard not built:[/] run scripts/build-web (the page at / says so too)")
        console.print(f"[bold]{name}[/] listening on http://{bind_host}:{bind_port}")
        uvicorn.run(
            application,
            host=bind_host,
            port=bind_port,
            log_config=None,
            access_log=False,
            proxy_headers=True,
            ws_max_size=1 << 20,
        )


HostOpt = typer.Option(None, "--host", help="Bind address (default SMC_API_HOST, 127.0.0.1).")
PortOpt = typer.Option(None, "--port", help="Port (default SMC_API_PORT, 8000).")


@app.command("api-gateway")
def api_gateway(host: str | None = HostOpt, port: int | None = PortOpt) -> None:
    """REST API: /health, /ready, /metrics, /v1/*, /docs."""
    run_app(ROLES["api-gateway"], host, port, "api-gateway")


@app.command("websocket-service")
def websocket_service(host: str | None = HostOpt, port: int | None = PortOpt) -> None:
    """Authenticated WebSocket stream /ws (events from Redis pub/sub when SMC_REDIS_URL is set)."""
    run_app(ROLES["websocket-service"], host, port, "websocket-service")


@app.command("web-app")
def web_app(host: str | None = HostOpt, port: int | None = PortOpt) -> None:
    """The dashboard's static files (build them with scripts/build-web)."""
    run_app(ROLES["web-app"], host, port, "web-app")


def register(serve: typer.Typer) -> None:
    """Add the three commands to an existing ``serve`` sub-app owned by another module."""
    serve.command("api-gateway")(api_gateway)
    serve.command("websocket-service")(websocket_service)
    serve.command("web-app")(web_app)
