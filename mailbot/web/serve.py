"""`mailbot web`: the console served by uvicorn on [web] host and port (loopback by default)."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import signal
from collections.abc import Iterator
from dataclasses import replace

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


def listening(config: Config, host: str | None, port: int | None) -> Config:
    """The configuration with the address the console really listens on (`--host`/`--port` win over [web]).

    The console decides from `[web] host` whether its cookies must be Secure: a `--host` given on the command
    line must count, or `mailbot web --host 0.0.0.0` would hand out plain cookies on a public address.
    """
    return replace(
        config, web=replace(config.web, host=host or config.web.host, port=port or config.web.port)
    )


def serve(config: Config, host: str | None = None, port: int | None = None) -> None:
    """Serve the console until SIGTERM/SIGINT (the database is migrated first, as by every command)."""
    config = listening(config, host, port)
    host, port = config.web.host, config.web.port
    app = create_app(open_console(config))
    if not _loopback(host) and not (config.web.public_url or "").startswith("https://"):
        log.warning("the console listens on %s without TLS: put a TLS reverse proxy in front (README)", host)
    log.info("staff console on http://%s:%s/", host if ":" not in host else f"[{host}]", port)
    settings = uvicorn.Config(
        app,
        host=host,
        port=port,
        # The client address is the TCP peer; X-Forwarded-For only from [web] trusted_proxies (web/auth.py).
        proxy_headers=False,
        server_header=False,
        access_log=False,  # it would log client addresses; logins and refusals go to the security log
        log_config=None,  # mailbot's own logging configuration
    )
    _Server(settings).run()


class _Server(uvicorn.Server):
    """uvicorn's server ending gracefully on SIGTERM/SIGINT with exit status 0, as `mailbot run` does.

    (uvicorn re-raises the signal after its shutdown, so the process would end "killed by SIGTERM".)
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Stop the server on SIGTERM/SIGINT (a second SIGINT forces it); restore the handlers after."""
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
