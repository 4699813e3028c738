"""App-wide messages: what the background workers report to the screens."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from console.broker_link import BrokerStatus
from console.tail import TailEvent, TopicSnapshot


@dataclass
class TailUpdate(Message):
    """A tail event: a new document, a removed topic, or the source's health."""

    event: TailEvent

    def can_replace(self, message: Message) -> bool:
        # A newer document of a topic makes an older, unprocessed one pointless.
        return (
            isinstance(message, TailUpdate)
            and isinstance(self.event, TopicSnapshot)
            and isinstance(message.event, TopicSnapshot)
            and message.event.topic == self.event.topic
        )


@dataclass
class BrokerStatusChanged(Message):
    """The result of the latest broker check."""

    status: BrokerStatus

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, BrokerStatusChanged)


@dataclass
class ActionFinished(Message):
    """An action's outcome, one line for a notification."""

    text: str
    ok: bool
