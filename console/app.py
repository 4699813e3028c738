"""`sq-console`: the operator console (Textual). The app only wires things together:
settings -> store, broker link and tail -> the main screen (console/screens/main.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from textual.app import App, SystemCommand
from textual.screen import Screen

from common.models import utc_now
from common.settings import parse_settings
from common.store import ObjectStore, open_store
from console.broker_link import BrokerLink
from console.screens.main import MainScreen, Services
from console.settings import ConsoleSettings
from console.tail import BrokerTail, LocalFSTail, StoreTail, Tail


def make_tail(settings: ConsoleSettings, store: ObjectStore | None, link: BrokerLink) -> Tail:
    """The live source the settings call for (see console/tail.py)."""
    if store is None:
        return BrokerTail(lambda: link.client, interval=settings.poll_interval)
    if settings.backend == "localfs":
        from common.store.localfs import LocalFSStore

        if isinstance(store, LocalFSStore):
            return LocalFSTail(store, store.root, fallback=max(5.0, settings.poll_interval))
    return StoreTail(store, interval=settings.poll_interval)


class ConsoleApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "sq-console"

    def __init__(
        self,
        settings: ConsoleSettings,
        *,
        store: ObjectStore | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        super().__init__()
        self.settings = settings
        # A store passed in stays its owner's to close.
        self._owns_store = store is None
        self.store = (
            store
            if store is not None
            else (open_store(settings) if settings.reads_storage else None)
        )
        self.link = BrokerLink(store=self.store, broker_url=settings.broker, token=settings.token)
        self.services = Services(
            link=self.link,
            tail=make_tail(settings, self.store, self.link),
            source=settings.source(),
            worker_id=settings.worker_id,
            row_cap=settings.row_cap,
            poll_interval=settings.poll_interval,
            clock=clock,
            export_dir=settings.export_dir,
        )

    def get_default_screen(self) -> Screen[None]:
        return MainScreen(self.services)

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        if isinstance(screen, MainScreen):
            yield from screen.commands()
        yield from super().get_system_commands(screen)

    async def on_unmount(self) -> None:
        await self.link.close()
        if self.store is not None and self._owns_store:
            await self.store.close()


def main(argv: Sequence[str] | None = None) -> None:
    settings = parse_settings(ConsoleSettings, argv, "sq-console")
    ConsoleApp(settings).run()


if __name__ == "__main__":
    main()
