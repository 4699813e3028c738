"""`simplequeued`: wires settings, store, engine, registry, HTTP (and RESP) in one loop.

Startup logs one line `listening http=http://H:P [redis=H:P] ...` with the real ports
(so `--addr 127.0.0.1:0` is usable). SIGINT/SIGTERM: stop accepting, finish in-flight
commits, mark the registry `stopping`, exit 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web

from common.settings import parse_settings
from common.store import open_store

from . import __version__, logs
from .engine import Engine
from .http import make_app
from .registry import Registry
from .settings import BrokerSettings, split_addr

log = logging.getLogger("simplequeue.daemon")

SHUTDOWN_GRACE_SECONDS = 5.0


class StartupError(Exception):
    """The daemon cannot start (port taken, RESP unavailable...); exit 2."""


def advertised_host(bind_host: str, advertise: str) -> tuple[str, int | None]:
    """The host (and port, if given) clients should use; never 0.0.0.0 or an empty host."""
    if advertise:
        text = advertise.removeprefix("http://").removeprefix("https://").rstrip("/")
        if text.rpartition(":")[2].isdigit():
            host, port = split_addr(text)
            return host, port
        return text, None
    if bind_host in ("", "0.0.0.0", "::"):
        return socket.gethostname(), None
    return bind_host, None


def _real_port(server: Any, fallback: int) -> int:
    sockets = getattr(server, "sockets", None)
    if sockets:
        return int(sockets[0].getsockname()[1])
    port = getattr(server, "port", None)
    return int(port) if isinstance(port, int) else fallback


async def _start_resp(engine: Engine, settings: BrokerSettings) -> tuple[Any, int]:
    from .resp import start_resp_server

    host, port = split_addr(settings.redis_addr)
    try:
        server = await start_resp_server(
            engine,
            host or "0.0.0.0",
            port,
            auth_token=settings.auth_token,
            max_payload_bytes=settings.max_payload_bytes,
        )
    except OSError as exc:
        raise StartupError(f"cannot listen on --redis-addr {settings.redis_addr}: {exc}") from None
    return server, _real_port(server, port)


async def serve(settings: BrokerSettings) -> None:
    store = open_store(settings)
    host, port = split_addr(settings.addr)
    engine: Engine | None = None
    runner: web.AppRunner | None = None
    resp_server: Any = None
    registry: Registry | None = None
    try:
        # The broker id defaults to hostname:port, known only once the port is bound.
        engine = Engine(store, settings.engine_settings(), writer=settings.broker_id or "pending")
        holder: dict[str, Registry] = {}
        app = make_app(
            engine,
            health=lambda: holder["registry"].health(),
            auth_token=settings.auth_token,
        )
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, host or None, port, shutdown_timeout=SHUTDOWN_GRACE_SECONDS)
        try:
            await site.start()
        except OSError as exc:
            raise StartupError(f"cannot listen on --addr {settings.addr}: {exc}") from None
        http_port = int(runner.addresses[0][1])
        broker_id = settings.broker_id or f"{socket.gethostname()}:{http_port}"
        engine.writer = broker_id
        ad_host, ad_port = advertised_host(host, settings.advertise_addr)
        http_addr = f"http://{_bracket(ad_host)}:{ad_port or http_port}"
        redis_addr: str | None = None
        redis_part = ""  # for the listening line
        if settings.redis_addr:
            resp_server, redis_port = await _start_resp(engine, settings)
            redis_addr = f"{_bracket(ad_host)}:{redis_port}"
            redis_bind = split_addr(settings.redis_addr)[0] or "0.0.0.0"
            redis_part = f" redis={_bracket(redis_bind)}:{redis_port}"
        registry = Registry(
            store,
            broker_id,
            http_addr,
            redis_addr,
            version=__version__,
            heartbeat_period=settings.heartbeat_period,
            takeover_timeout=settings.takeover_timeout,
        )
        holder["registry"] = registry
        await engine.start()
        await registry.start()
        bound = f"http://{_bracket(host or '0.0.0.0')}:{http_port}"
        # Handle SIGTERM before saying "listening": a supervisor may stop us right after.
        signalled = _signal_event()
        log.info(
            "listening http=%s%s broker_id=%s advertise=%s storage=%s state=%s version=%s",
            bound,
            redis_part,
            broker_id,
            http_addr,
            settings.location(),
            registry.state,
            __version__,
        )
        await signalled.wait()
        log.info("stopping broker_id=%s", broker_id)
    finally:
        await _shutdown(runner, resp_server, engine, registry)
        await store.close()
    log.info("stopped")


async def _shutdown(
    runner: web.AppRunner | None, resp_server: Any, engine: Engine | None, registry: Registry | None
) -> None:
    """Stop accepting, let handlers finish their commits, then mark the registry."""
    if resp_server is not None:
        resp_server.close()
    if runner is not None:
        for site in list(runner.sites):
            await site.stop()
    if engine is not None:
        await engine.stop()
    if runner is not None:
        await runner.cleanup()
    if resp_server is not None:
        await resp_server.wait_closed()
    if registry is not None:
        await registry.stop()


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _signal_event() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM (instead of their default action, exiting)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


def main(argv: Sequence[str] | None = None) -> None:
    settings = parse_settings(BrokerSettings, argv, prog="simplequeued")
    logs.configure(settings.log_level)
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(serve(settings))
    except StartupError as exc:
        print(f"simplequeued: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        pass


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when it is installed (a lower cost per request for HTTP and
    RESP); asyncio's own otherwise."""
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory
