"""`simplequeued`: wires settings, store, engine, registry, HTTP (and RESP) in one loop.

Start-up first checks that storage is writable (exit 2 if not), raises the open-file
limit and sizes the connection caps (broker/limits.py), then listens. It logs one line
`listening http=http://H:P [redis=H:P] ...` with the real ports (so `--addr 127.0.0.1:0`
is usable) once it is ready; until then `/readyz` answers 503 "starting".
SIGINT/SIGTERM: stop accepting, finish in-flight commits, mark the registry `stopping`,
exit 0.
"""

from __future__ import annotations

import asyncio
import ipaddress
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
from .http.connections import CappedSite, runner_options
from .limits import ConnectionCap, connection_cap, raise_fd_limit
from .readiness import Readiness
from .registry import Registry
from .settings import BrokerSettings, split_addr
from .store_watch import WatchedStore, check_writable

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


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach; "" and 0.0.0.0 mean every interface."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may well be reachable from elsewhere


def _warn_if_open(settings: BrokerSettings) -> None:
    if settings.auth_token:
        return
    for flag, addr in (("--addr", settings.addr), ("--redis-addr", settings.redis_addr)):
        if addr and not is_loopback(split_addr(addr)[0]):
            log.warning(
                "no --auth-token and %s %s is not a loopback address: anyone who can "
                "reach it can read and change every topic; set --auth-token (or "
                "SQ_AUTH_TOKEN) or bind 127.0.0.1",
                flag,
                addr,
            )


async def _check_storage(store: WatchedStore, settings: BrokerSettings) -> None:
    try:
        await check_writable(store)
    except Exception as exc:
        raise StartupError(
            f"cannot write to storage {settings.location()}: {exc}; check the storage "
            "flags (--dir, --bucket...) and that this process may write there"
        ) from None


async def _start_resp(
    engine: Engine, settings: BrokerSettings, max_connections: int
) -> tuple[Any, int]:
    from .resp import start_resp_server

    host, port = split_addr(settings.redis_addr)
    try:
        server = await start_resp_server(
            engine,
            host or "0.0.0.0",
            port,
            auth_token=settings.auth_token,
            max_payload_bytes=settings.max_payload_bytes,
            max_connections=max_connections,
            auth_timeout=settings.idle_timeout,
        )
    except OSError as exc:
        raise StartupError(f"cannot listen on --redis-addr {settings.redis_addr}: {exc}") from None
    return server, _real_port(server, port)


async def serve(settings: BrokerSettings) -> None:
    fd_limit = raise_fd_limit()
    max_connections = connection_cap(settings.max_connections, fd_limit)
    store = WatchedStore(open_store(settings))
    host, port = split_addr(settings.addr)
    engine: Engine | None = None
    runner: web.AppRunner | None = None
    resp_server: Any = None
    registry: Registry | None = None
    readiness = Readiness()
    try:
        await _check_storage(store, settings)
        _warn_if_open(settings)
        # The broker id defaults to hostname:port, known only once the port is bound.
        engine = Engine(store, settings.engine_settings(), writer=settings.broker_id or "pending")
        # HTTP answers from here on, before the registry exists: /healthz says "starting".
        starting = _starting_health(settings.broker_id)
        app = make_app(
            engine,
            health=lambda: registry.health() if registry and readiness.started else starting,
            readiness=readiness.reasons,
            auth_token=settings.auth_token,
            body_seconds=settings.idle_timeout,
        )
        runner = web.AppRunner(app, **runner_options(settings.idle_timeout))
        await runner.setup()
        http_cap = ConnectionCap(max_connections)
        readiness.add_cap("HTTP", http_cap)
        engine.metrics.gauge(
            "sq_http_connections", "open HTTP connections", lambda: [((), float(http_cap.open))]
        )
        engine.metrics.gauge(
            "sq_ready", "1 when /readyz answers 200", lambda: [((), float(not readiness.reasons()))]
        )
        site = CappedSite(
            runner, host or None, port, http_cap, shutdown_timeout=SHUTDOWN_GRACE_SECONDS
        )
        try:
            await site.start()
        except OSError as exc:
            raise StartupError(f"cannot listen on --addr {settings.addr}: {exc}") from None
        http_port = int(runner.addresses[0][1])
        bound = f"http://{_bracket(host or '0.0.0.0')}:{http_port}"
        log.info("starting http=%s (ready once the listening line is logged)", bound)
        broker_id = settings.broker_id or f"{socket.gethostname()}:{http_port}"
        engine.writer = broker_id
        starting["broker_id"] = broker_id
        ad_host, ad_port = advertised_host(host, settings.advertise_addr)
        http_addr = f"http://{_bracket(ad_host)}:{ad_port or http_port}"
        redis_addr: str | None = None
        redis_part = ""  # for the listening line
        if settings.redis_addr:
            resp_server, redis_port = await _start_resp(engine, settings, max_connections)
            readiness.add_cap("Redis", resp_server.state.cap)
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
        await engine.start()
        await registry.start()
        readiness.add(_storage_problem(store))
        readiness.add(registry.problem)
        readiness.started = True
        # Handle SIGTERM before saying "listening": a supervisor may stop us right after.
        signalled = _signal_event()
        log.info(
            "listening http=%s%s broker_id=%s advertise=%s storage=%s state=%s version=%s "
            "max_connections=%d fd_limit=%d",
            bound,
            redis_part,
            broker_id,
            http_addr,
            settings.location(),
            registry.state,
            __version__,
            max_connections,
            fd_limit,
        )
        await signalled.wait()
        log.info("stopping broker_id=%s", broker_id)
    finally:
        await _shutdown(runner, resp_server, engine, registry)
        await store.close()
    log.info("stopped")


def _starting_health(broker_id: str) -> dict[str, Any]:
    """/healthz's registry fields before the registry exists."""
    return {"broker_id": broker_id, "active": False, "state": "starting", "active_broker": None}


def _storage_problem(store: WatchedStore) -> Callable[[], str | None]:
    def problem() -> str | None:
        error = store.last_error
        return None if error is None else f"the last storage request failed: {error}"

    return problem


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
