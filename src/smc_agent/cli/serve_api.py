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


def run_app(
    roles: Collection[str],
    host: str | None,
    port: int | None,
    name: str,
    *,
    admin_port: int | None = None,
    default_admin: bool = False,
) -> None:
    """Serve the app on its public listener (closed while public traffic is blocked) and on an admin
    listener that stays open (``smc_agent.api.listeners``): the api-gateway has one by default
    (SMC_API_ADMIN_PORT), the other roles when ``--admin-port`` is given (Kubernetes probes it)."""
    import asyncio

    from smc_agent.api.app import create_app
    from smc_agent.api.listeners import Bind, ListenerSet
    from smc_agent.api.static import dashboard_built
    from smc_agent.control.traffic import PublicTraffic

    with container() as c:
        public = Bind(host or c.settings.api_host, port or c.settings.api_port)
        if admin_port is None and default_admin:
            admin_port = c.settings.api_admin_port
        admin_bind = Bind(c.settings.api_admin_host, admin_port) if admin_port else None
        application = create_app(c, roles=roles)
        if "web" in roles and not dashboard_built():
            console.print("[yellow]dashboard not built:[/] run scripts/build-web (the page at / says so too)")
        console.print(
            f"[bold]{name}[/] listening on {public}" + (f" (admin {admin_bind})" if admin_bind else "")
        )
        listeners = ListenerSet(
            application,
            public,
            admin=admin_bind,
            blocked=PublicTraffic(c.kv).current,
            uvicorn_options={
                "access_log": False,
                "proxy_headers": True,
                "forwarded_allow_ips": c.settings.forwarded_allow_ips,
                "ws_max_size": 1 << 20,
                "timeout_graceful_shutdown": 5,
            },
        )
        asyncio.run(listeners.serve())


HostOpt = typer.Option(None, "--host", help="Bind address (default SMC_API_HOST, 127.0.0.1).")
PortOpt = typer.Option(None, "--port", help="Port (default SMC_API_PORT, 8000).")
AdminPortOpt = typer.Option(
    None,
    "--admin-port",
    help="Admin listener port on SMC_API_ADMIN_HOST, open while public traffic is blocked (0 = none; "
    "api-gateway default SMC_API_ADMIN_PORT, 8001; other roles default none).",
)


@app.command("api-gateway")
def api_gateway(
    host: str | None = HostOpt, port: int | None = PortOpt, admin_port: int | None = AdminPortOpt
) -> None:
    """REST API: /health, /ready, /metrics, /v1/*, /docs."""
    run_app(ROLES["api-gateway"], host, port, "api-gateway", admin_port=admin_port, default_admin=True)


@app.command("websocket-service")
def websocket_service(
    host: str | None = HostOpt, port: int | None = PortOpt, admin_port: int | None = AdminPortOpt
) -> None:
    """Authenticated WebSocket stream /ws (events from Redis pub/sub when SMC_REDIS_URL is set)."""
    run_app(ROLES["websocket-service"], host, port, "websocket-service", admin_port=admin_port)


@app.command("web-app")
def web_app(
    host: str | None = HostOpt, port: int | None = PortOpt, admin_port: int | None = AdminPortOpt
) -> None:
    """The dashboard's static files (build them with scripts/build-web)."""
    run_app(ROLES["web-app"], host, port, "web-app", admin_port=admin_port)


def register(serve: typer.Typer) -> None:
    """Add the three commands to an existing ``serve`` sub-app owned by another module."""
    serve.command("api-gateway")(api_gateway)
    serve.command("websocket-service")(websocket_service)
    serve.command("web-app")(web_app)
