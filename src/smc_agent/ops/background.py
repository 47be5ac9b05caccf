"""The ops threads of a running system: outbox dispatcher, escalation scheduler, incident watcher.

The live runtime (or ``smc-agent serve``) starts them once per process::

    opener = incident_opener(container.session_factory, settings)
    watcher = ControlWatcher(opener, trading=container.trading_control, failover=container.failover,
                             health_url="http://127.0.0.1:8000/health")
    workers = OpsWorkers(container.session_factory, settings, watcher=watcher)
    workers.start()
    ...
    workers.stop()

All keep their state in the database, so any number of processes may run them; they are
idempotent and a restart loses nothing.
"""

from __future__ import annotations

import threading

from sqlalchemy.orm import Session, sessionmaker

from smc_agent.control.clock import WallClock
from smc_agent.core.clock import Clock
from smc_agent.logs import get_logger
from smc_agent.ops.escalation import EscalationScheduler
from smc_agent.ops.incidents.auto import IncidentOpener
from smc_agent.ops.notify.dispatcher import OutboxDispatcher
from smc_agent.ops.notify.router import NotificationRouter, build_providers
from smc_agent.ops.settings import OpsSettings
from smc_agent.ops.watchers import ControlWatcher

log = get_logger("smc_agent.ops")


def incident_opener(
    factory: sessionmaker[Session], settings: OpsSettings, *, clock: Clock | None = None
) -> IncidentOpener:
    """What breakers, the halt latch, reconciliation, failover and /health use to open incidents."""
    return IncidentOpener(factory, clock=clock or WallClock(), sink=NotificationRouter(settings))


class OpsWorkers:
    def __init__(
        self,
        factory: sessionmaker[Session],
        settings: OpsSettings,
        *,
        clock: Clock | None = None,
        notify_poll_s: float = 0.25,
        escalation_poll_s: float = 5.0,
        watcher: ControlWatcher | None = None,
        watch_poll_s: float = 1.0,
    ) -> None:
        clock = clock or WallClock()
        self.dispatcher = OutboxDispatcher(
            factory,
            build_providers(settings, clock=clock),
            clock=clock,
            min_interval_s=settings.notify_min_interval_s,
        )
        self.scheduler = EscalationScheduler(factory, clock=clock, router=NotificationRouter(settings))
        self.watcher = watcher
        self._polls = (notify_poll_s, escalation_poll_s, watch_poll_s)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        if self._threads:
            return
        self._stop.clear()
        self._threads = [
            threading.Thread(
                target=self.dispatcher.run,
                args=(self._stop,),
                kwargs={"poll_s": self._polls[0]},
                name="ops-notify",
                daemon=True,
            ),
            threading.Thread(
                target=self.scheduler.run,
                args=(self._stop,),
                kwargs={"poll_s": self._polls[1]},
                name="ops-escalation",
                daemon=True,
            ),
        ]
        if self.watcher is not None:
            self._threads.append(threading.Thread(target=self._watch, name="ops-watch", daemon=True))
        for thread in self._threads:
            thread.start()

    def _watch(self) -> None:
        assert self.watcher is not None
        while not self._stop.is_set():
            try:
                self.watcher.tick()
            except Exception as exc:  # the database may be down: that is what we watch for
                log.error("incident watcher tick failed", error=f"{exc.__class__.__name__}: {exc}")
            self._stop.wait(self._polls[2])

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout_s)
        self._threads = []
        self.dispatcher.close()
        if self.watcher is not None:
            self.watcher.close()
