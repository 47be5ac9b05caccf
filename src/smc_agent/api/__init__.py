"""HTTP API, WebSocket stream and dashboard serving (layer ``api``).

Build the ASGI app with :func:`smc_agent.api.app.create_app`; routes stay thin and call services
(sessions, API keys, control facade, store tables).
"""
