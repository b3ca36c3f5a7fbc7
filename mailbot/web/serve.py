"""`mailbot web`: the console served by uvicorn on [web] host and port (loopback by default)."""

from __future__ import annotations

import ipaddress
import logging

import uvicorn

from mailbot.config import Config
from mailbot.web.app import create_app
from mailbot.web.console import open_console

log = logging.getLogger("mailbot.web")


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def serve(config: Config, host: str | None = None, port: int | None = None) -> None:
    """Serve the console until SIGTERM/SIGINT (the database is migrated first, as by every command)."""
    host = host or config.web.host
    port = port or config.web.port
    app = create_app(open_console(config))
    if not _loopback(host) and not (config.web.public_url or "").startswith("https://"):
        log.warning("the console listens on %s without TLS: put a TLS reverse proxy in front (README)", host)
    log.info("staff console on http://%s:%s/", host if ":" not in host else f"[{host}]", port)
    uvicorn.run(
        app,
        host=host,
        port=port,
        # The client address is the TCP peer; X-Forwarded-For only from [web] trusted_proxies (web/auth.py).
        proxy_headers=False,
        server_header=False,
        access_log=False,  # it would log client addresses; logins and refusals go to the security log
        log_config=None,  # mailbot's own logging configuration
    )
