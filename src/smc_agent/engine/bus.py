"""In-process event bus implementing ``EventBusPort`` (dispatch by event class and its bases)."""

from __future__ import annotations

from collections import defaultdict

from smc_agent.core.events import Event
from smc_agent.core.ports import EventHandler


class InProcessBus:
    def __init__(self) -> None:
        self._handlers: dict[type[Event], list[EventHandler]] = defaultdict(list)
        self._resolved: dict[type[Event], tuple[EventHandler, ...]] = {}

    def subscribe(self, event_type: type[Event], handler: EventHandler) -> None:
        self._handlers[event_type].append(handler)
        self._resolved.clear()

    def _for(self, cls: type[Event]) -> tuple[EventHandler, ...]:
        handlers = self._resolved.get(cls)
        if handlers is None:
            handlers = tuple(h for base in cls.__mro__ for h in self._handlers.get(base, ()))
            self._resolved[cls] = handlers
        return handlers

    def wants(self, event_type: type[Event]) -> bool:
        """Whether anyone would receive an event of this type (lets publishers skip building it)."""
        return bool(self._for(event_type))

    def publish(self, event: Event) -> None:
        for handler in self._for(type(event)):
            handler(event)
