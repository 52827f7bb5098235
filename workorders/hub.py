"""The TMF641 deliverer: it sends the outbox's events to the listeners registered at
``/hub`` (docs/tmf641.md, "Notifications").

Each event is POSTed as the JSON the outbox holds (its hrefs made absolute under
``public_url``), signed with the listener's
secret (``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>``). A 2xx answer
delivers it; 410 removes the listener; anything else (or no answer) is tried again
after an exponential backoff with jitter, kept in the database so it survives
restarts. Deliveries are claimed with a lease (:meth:`HubStore.claim`), so several
deliverers never send the same one at once, and one killed mid-delivery leaves its
deliveries to be claimed again when the lease ends: every event arrives at least once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

import httpx

from models.tables import utcnow
from workorders.config import Settings
from workorders.store.hub import Claimed, HubStore, Outcome
from workorders.tmf641.events import SIGNATURE_HEADER, absolute_hrefs, sign

log = logging.getLogger("workorders.hub")


@dataclass
class Backoff:
    """The delay before try ``attempts + 1``: ``base * 2**attempts``, at most ``most``,
    times a random factor in [0.5, 1] (so listeners back up are not hit all at once)."""

    base_s: float = 1.0
    most_s: float = 600.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempts: int) -> timedelta:
        seconds = min(self.most_s, self.base_s * 2 ** min(attempts, 30))
        return timedelta(seconds=seconds * self.rng.uniform(0.5, 1.0))


class Deliverer:
    """Sends due deliveries until cancelled; one per process, any number of processes."""

    def __init__(
        self,
        store: HubStore,
        client: httpx.AsyncClient,
        *,
        backoff: Backoff | None = None,
        lease: timedelta = timedelta(seconds=60),
        batch: int = 100,
        poll_interval_s: float = 0.2,
        base_url: str = "http://127.0.0.1:8000",
    ) -> None:
        self.store = store
        self.client = client
        self.backoff = backoff or Backoff()
        self.lease = lease
        self.batch = batch
        self.poll_interval_s = poll_interval_s
        self.base_url = base_url

    @classmethod
    def of(cls, settings: Settings, store: HubStore, client: httpx.AsyncClient) -> Deliverer:
        return cls(
            store,
            client,
            backoff=Backoff(settings.hub_retry_base_s, settings.hub_retry_max_s),
            lease=timedelta(seconds=settings.hub_lease_s),
            batch=settings.hub_batch,
            poll_interval_s=settings.hub_poll_interval_s,
            base_url=settings.public_url or settings.api_url,
        )

    async def run(self) -> None:
        """Fan out and send, pausing when there was nothing to do; a database error
        pauses it too (the state is in the database: nothing is lost)."""
        while True:
            try:
                busy = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("TMF641 delivery round failed; trying again")
                busy = 0
            if not busy:
                await asyncio.sleep(self.poll_interval_s)

    async def run_once(self) -> int:
        """One round: fan out new events, send the due deliveries at once (at most one
        per order and listener, so order holds), record the answers in one
        transaction. Returns how many events were fanned out and deliveries sent."""
        fanned = await self.store.fan_out()
        claimed = await self.store.claim(self.batch, self.lease)
        outcomes = await asyncio.gather(*(self.send(c) for c in claimed))
        await self.store.record(outcomes)
        return fanned + len(claimed)

    async def send(self, delivery: Claimed) -> Outcome:
        """POST one delivery; what the listener's answer means for it."""
        body = absolute_hrefs(delivery.body, self.base_url).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Event-Id": delivery.event_id,
            "X-Hub-Event-Type": delivery.event_type,
        }
        if delivery.secret:
            headers[SIGNATURE_HEADER] = sign(delivery.secret, body)
        try:
            response = await self.client.post(delivery.callback, content=body, headers=headers)
        except httpx.HTTPError as e:
            error = f"{type(e).__name__}: {e}"
        else:
            if response.is_success:
                return Outcome(delivery.id, delivery.listener_id)
            if response.status_code == 410:
                log.info("listener %s answered 410: removed", delivery.listener_id)
                return Outcome(delivery.id, delivery.listener_id, gone=True)
            error = f"HTTP {response.status_code}"
        wait = self.backoff.delay(delivery.attempts)
        log.info(
            "TMF641 event %s to listener %s not delivered (%s); again in %.1f s",
            delivery.event_id,
            delivery.listener_id,
            error,
            wait.total_seconds(),
        )
        return Outcome(delivery.id, delivery.listener_id, error=error, again=utcnow() + wait)


async def prune_periodically(store: HubStore, interval_s: float, retention: timedelta) -> None:
    """Every ``interval_s``, remove what no listener needs any more
    (:meth:`HubStore.prune`): what every listener received, and what is older than
    ``retention``. A failed round is tried again at the next (nothing is lost by
    pruning late); several processes pruning at once remove each row once."""
    while True:
        try:
            pruned = await store.prune(utcnow() - retention)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("TMF641 pruning failed; trying again in %.0f s", interval_s)
        else:
            if pruned.deliveries or pruned.events:
                log.info(
                    "TMF641 pruned %d deliveries and %d events",
                    pruned.deliveries,
                    pruned.events,
                )
        await asyncio.sleep(interval_s)


@contextlib.asynccontextmanager
async def delivering(settings: Settings, store: HubStore) -> AsyncIterator[Deliverer | None]:
    """A deliverer and its pruning running in the background of this process while the
    block runs (as the worker process runs them), with an HTTP client of its own;
    ``None`` and nothing runs when ``hub_delivery`` is off."""
    if not settings.hub_delivery:
        yield None
        return
    async with httpx.AsyncClient(timeout=settings.hub_timeout_s, follow_redirects=False) as http:
        deliverer = Deliverer.of(settings, store, http)
        tasks = [
            asyncio.create_task(deliverer.run(), name="tmf641-deliverer"),
            asyncio.create_task(
                prune_periodically(
                    store,
                    settings.hub_prune_interval_s,
                    timedelta(hours=settings.hub_retention_h),
                ),
                name="tmf641-pruner",
            ),
        ]
        try:
            yield deliverer
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
