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

A round sends each claimed run (an order's due events to one listener) one event after
another, the runs side by side; a failure ends its run, the rest of it is let go for a
later round. On PostgreSQL an idle deliverer is woken by the NOTIFY of each new timeline
line (the order feed, :mod:`workorders.feed`); it polls too, for retries coming due and
on SQLite.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import urllib.request
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit

import aiohttp

from models.tables import utcnow
from workorders.config import Settings
from workorders.feed import ANY_ORDER, OrderFeed
from workorders.store.hub import Claimed, HubStore, Outcome, Run
from workorders.tmf641.events import SIGNATURE_HEADER, absolute_hrefs, sign

log = logging.getLogger("workorders.hub")

LEASE_SHARE = 0.9
"""The share of its lease a deliverer spends sending a round; the rest is a margin for
clocks and the record of the answers."""

FAN_OUT = 200
"""The most events a round fans out."""


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


@dataclass(frozen=True)
class Round:
    """What one round did: events fanned out and runs claimed (and sent)."""

    fanned_out: int = 0
    runs: int = 0


class Deliverer:
    """Sends due deliveries until cancelled; one per process, any number of processes."""

    def __init__(
        self,
        store: HubStore,
        session: aiohttp.ClientSession,
        *,
        backoff: Backoff | None = None,
        lease: timedelta = timedelta(seconds=60),
        batch: int = 100,
        poll_interval_s: float = 0.2,
        round_interval_s: float = 0.0,
        straggler_wait_s: float = 1.0,
        base_url: str = "http://127.0.0.1:8000",
        feed: OrderFeed | None = None,
    ) -> None:
        self.store = store
        self.session = session
        self.backoff = backoff or Backoff()
        self.lease = lease
        self.batch = batch
        self.poll_interval_s = poll_interval_s
        self.round_interval_s = round_interval_s
        self.straggler_wait_s = straggler_wait_s
        self.base_url = base_url
        self.feed = feed
        self._stragglers: set[asyncio.Task[None]] = set()
        """Runs still out when their round ended, each recording its own answers."""

    @classmethod
    def of(
        cls,
        settings: Settings,
        store: HubStore,
        session: aiohttp.ClientSession,
        feed: OrderFeed | None = None,
    ) -> Deliverer:
        return cls(
            store,
            session,
            backoff=Backoff(settings.hub_retry_base_s, settings.hub_retry_max_s),
            lease=timedelta(seconds=settings.hub_lease_s),
            batch=settings.hub_batch,
            poll_interval_s=settings.hub_poll_interval_s,
            round_interval_s=settings.hub_round_interval_s,
            straggler_wait_s=settings.hub_straggler_wait_s,
            base_url=settings.public_url or settings.api_url,
            feed=feed,
        )

    async def run(self) -> None:
        """Fan out and send, round after round. A round that found as much as it could
        take (``batch`` runs) is followed at once by the next; otherwise the next
        starts ``round_interval_s`` after it started, so that what comes meanwhile is
        sent together, and when there was nothing to do, once a new timeline line wakes
        it (PostgreSQL) or the poll interval passed. A database error pauses it too (the
        state is in the database: nothing is lost). Cancelled, it cancels the runs
        still out: their leases run out, and they are sent again."""
        loop = asyncio.get_running_loop()
        async with self._wakes() as woken, self._stopping_stragglers():
            while True:
                woken.clear()  # what is written from now on wakes the next pause
                started = loop.time()
                try:
                    done = await self.run_once()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("TMF641 delivery round failed; trying again")
                    done = Round()
                if done.runs >= self.batch or done.fanned_out >= FAN_OUT:
                    continue
                if not (done.runs or done.fanned_out):
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(woken.wait(), self.poll_interval_s)
                await asyncio.sleep(max(0.0, started + self.round_interval_s - loop.time()))

    def _wakes(self) -> contextlib.AbstractAsyncContextManager[asyncio.Event]:
        """An event set at each new timeline line of any order, by the order feed;
        one never set without a feed."""
        if self.feed is None:
            return contextlib.nullcontext(asyncio.Event())
        return self.feed.following(ANY_ORDER)

    @contextlib.asynccontextmanager
    async def _stopping_stragglers(self) -> AsyncIterator[None]:
        try:
            yield
        finally:
            for task in self._stragglers:
                task.cancel()
            await asyncio.gather(*self._stragglers, return_exceptions=True)

    async def run_once(self) -> Round:
        """One round: fan out new events, claim runs (an order's due events to one
        listener), send the runs side by side, each one event after another until
        one fails, and record the answers in one transaction. A round waits at most
        ``straggler_wait_s`` for its runs: one still out then (a listener slow to
        answer) goes on by itself and records its own answers when it ends, so a slow
        listener does not hold back what the others are sent. Runs out count against
        the ``batch`` a round may claim."""
        fanned = await self.store.fan_out(FAN_OUT)
        loop = asyncio.get_running_loop()
        # No POST outlives the lease: another deliverer may claim the rest after it.
        until = loop.time() + self.lease.total_seconds() * LEASE_SHARE
        room = self.batch - len(self._stragglers)
        runs = await self.store.claim(room, self.lease) if room > 0 else []
        if not runs:
            return Round(fanned)
        sending = [asyncio.create_task(self.send_run(run, until)) for run in runs]
        done, out = await asyncio.wait(sending, timeout=self.straggler_wait_s)
        sent = [task.result() for task in sending if task in done]
        await self.store.record(
            [o for outcomes, _ in sent for o in outcomes],
            [c for _, unsent in sent for c in unsent],
        )
        for task in out:
            straggler = asyncio.create_task(self._record_when_sent(task))
            self._stragglers.add(straggler)
            straggler.add_done_callback(self._stragglers.discard)
        return Round(fanned, len(runs))

    async def _record_when_sent(
        self, sending: asyncio.Task[tuple[list[Outcome], Sequence[Claimed]]]
    ) -> None:
        """Record a straggling run's answers once it ended; cancelled, it cancels the
        run (its lease runs out: it is sent again)."""
        try:
            outcomes, unsent = await sending
            await self.store.record(outcomes, unsent)
        except asyncio.CancelledError:
            sending.cancel()
            raise
        except Exception:  # its lease runs out: it is sent again
            log.exception("TMF641 answers of a straggling run not recorded")

    async def send_run(self, run: Run, until: float) -> tuple[list[Outcome], Sequence[Claimed]]:
        """Send the run's deliveries one after another, until one is not delivered or
        the event loop's time ``until`` comes; the answers, and what was not sent."""
        loop = asyncio.get_running_loop()
        outcomes: list[Outcome] = []
        for n, delivery in enumerate(run):
            left = until - loop.time()
            if left <= 0:
                return outcomes, run[n:]
            outcome = await self.send(delivery, left)
            outcomes.append(outcome)
            if outcome.error is not None or outcome.gone:
                return outcomes, run[n + 1 :]
        return outcomes, ()

    async def send(self, delivery: Claimed, within_s: float | None = None) -> Outcome:
        """POST one delivery, given at most ``within_s``; what the listener's answer
        means for it."""
        body = absolute_hrefs(delivery.body, self.base_url).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Event-Id": delivery.event_id,
            "X-Hub-Event-Type": delivery.event_type,
        }
        if delivery.secret:
            headers[SIGNATURE_HEADER] = sign(delivery.secret, body)
        held = delivery.id, delivery.listener_id, delivery.lease_until
        try:
            async with asyncio.timeout(within_s) as lease:
                async with self.session.post(
                    delivery.callback,
                    data=body,
                    headers=headers,
                    allow_redirects=False,
                    proxy=proxy_for(delivery.callback),
                ) as response:
                    status = response.status
        except aiohttp.ClientError as e:
            error = f"{type(e).__name__}: {e}"
        except TimeoutError:
            error = "no answer before the lease ran out" if lease.expired() else "no answer"
        else:
            if 200 <= status < 300:
                return Outcome(*held)
            if status == 410:
                log.info("listener %s answered 410: removed", delivery.listener_id)
                return Outcome(*held, gone=True)
            error = f"HTTP {status}"
        wait = self.backoff.delay(delivery.attempts)
        log.info(
            "TMF641 event %s to listener %s not delivered (%s); again in %.1f s",
            delivery.event_id,
            delivery.listener_id,
            error,
            wait.total_seconds(),
        )
        return Outcome(*held, error=error, again=utcnow() + wait)


@functools.lru_cache(maxsize=1024)
def proxy_for(callback: str) -> str | None:
    """The proxy to reach ``callback`` through, from the process's ``HTTP_PROXY``,
    ``HTTPS_PROXY`` and ``NO_PROXY`` (the standard library reads them), found once
    for each callback. aiohttp's own ``trust_env`` looks them up again in a thread for
    every request: two thread hops that tripled the deliverer's CPU a delivery (0.58
    ms against 0.18, ``bench.delivery``'s 20 listeners)."""
    url = urlsplit(callback)
    proxies = urllib.request.getproxies_environment()
    if not proxies or urllib.request.proxy_bypass(url.hostname or ""):
        return None
    return proxies.get(url.scheme) or proxies.get("all")


def sending_session(settings: Settings) -> aiohttp.ClientSession:
    """The deliverer's HTTP client: aiohttp's, with a connection for each run sent at
    once, each POST given ``hub_timeout_s`` and sent through the proxy the
    environment names for it (:func:`proxy_for`). The deliverer's CPU a delivery
    (claim, POST, record; 20 listeners, 100 runs at once, the project's 2-core
    machine): 0.18 ms, against 0.6 with httpx on aiohttp's transport (the NMS
    client's) and 1.5 with httpx on its own pool, whose work for each request grows
    with its connections."""
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=settings.hub_timeout_s),
        connector=aiohttp.TCPConnector(limit=settings.hub_batch),
    )


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
    block runs (as the worker process runs them), with an HTTP client of its own
    (:func:`sending_session`);
    ``None`` and nothing runs when ``hub_delivery`` is off."""
    if not settings.hub_delivery:
        yield None
        return
    feed = OrderFeed(store.db.engine.url.render_as_string(hide_password=False))
    async with sending_session(settings) as session:
        deliverer = Deliverer.of(settings, store, session, feed)
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
            await feed.close()
