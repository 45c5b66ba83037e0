"""Following runs in users' servers until they end, and keeping their records true.

One watcher task per user's server with active runs (the default server, or a named
one such as the run server) long-polls that server's extension
(``GET executions?since=<seq>&wait=…``) and applies every change to the records, so a
status is current within one round trip. When the server cannot be reached, the Hub is
asked whether it still runs: a stopped server (or one that restarted and no longer knows
the run) turns its active runs ``failed`` with the reason ``server stopped``; the user's
other servers are not concerned.

Several replicas: the runs in each server are followed by one replica at a time, the
holder of the server's ``watch`` lease (:mod:`..db.leases`, named by
:func:`~..hub.client.server_key`). A replica renews its leases every third of
``lease_ttl`` and, as often, looks for servers with active runs that nobody follows (a
holder that died, a run dispatched while its server's watcher was ending) and takes
them over. A request waiting on a run (its first cell, its end) reads the record again
whenever it changes, in this process or, through :mod:`..db.notify`, in any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from traitlets import Float, TraitError, validate
from traitlets.config import LoggingConfigurable

from .. import metrics
from ..db.leases import Leases
from ..db.models import utcnow
from ..db.notify import EXECUTIONS, Listener
from ..errors import NotFound, TemplatesError, Unavailable
from ..hub import ExtensionClient, HubClient, UserServer
from ..hub.client import split_key
from ..statuses import FINAL, Reason, Status
from .records import ExecutionRecords

log = logging.getLogger(__name__)

#: the lease kind of following one user's runs
WATCH = "watch"

InThread = Callable[..., Awaitable[Any]]
OnFinal = Callable[[int, dict[str, Any]], Awaitable[None]]


class ExecutionMonitor(LoggingConfigurable):
    """Watchers per user's server, and in-process notification of changes.

    Keyword arguments besides the collaborators: traits, ``parent``, ``log``.
    """

    poll_wait = Float(
        20.0, help="How long one long poll of a user's server waits for a change (seconds)."
    ).tag(config=True)

    stopped_grace = Float(
        30.0,
        help="""A server unreachable this long (seconds) while the Hub still calls it
        running is taken as stopped: its running executions fail with 'server stopped'.""",
    ).tag(config=True)

    lease_ttl = Float(
        12.0,
        help="""How long (seconds) a replica's hold on following a user's runs lasts
        unless renewed (it is renewed every third of this). When a replica dies, another
        takes its users over within about 1.3 times this, so keep it below
        stopped_grace: a server is never judged stopped for want of a watcher.""",
    ).tag(config=True)

    @validate("lease_ttl")
    def _check_lease_ttl(self, proposal: Any) -> float:
        if not proposal["value"] > 0:
            raise TraitError("lease_ttl must be a positive number of seconds")
        return float(proposal["value"])

    undispatched_grace = Float(
        120.0,
        help="""A run recorded but never handed to a user's server (the service stopped
        in between) is failed after this many seconds.""",
    ).tag(config=True)

    def __init__(
        self,
        *,
        records: ExecutionRecords,
        hub: HubClient,
        extension: ExtensionClient,
        in_thread: InThread,
        on_final: OnFinal,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.records = records
        self.hub = hub
        self.extension = extension
        self.in_thread = in_thread
        self.on_final = on_final
        self._watchers: dict[str, asyncio.Task[None]] = {}
        self._kicked: set[str] = set()
        self.leases = Leases(records.db)
        #: when (monotonic) each watcher of this process began taking its lease
        self._taking_since: dict[str, float] = {}
        #: users whose lease this process holds and follows
        self._following: set[str] = set()
        self._lease_task: asyncio.Task[None] | None = None
        self._listener = Listener(records.db, EXECUTIONS, self._notified, self._wake_all)
        #: runs some request waits on: how many waiters, and the event set at a change
        self._waiting: Counter[int] = Counter()
        self._wake: dict[int, asyncio.Event] = {}
        self._changed = asyncio.Condition()
        self._final_tasks: dict[int, asyncio.Task[None]] = {}
        #: ends being written whose final work is not yet registered: by user for
        #: reports (the run's id is known only once applied), by run for forced ends
        self._ending_users: Counter[str] = Counter()
        self._ending_ids: set[int] = set()
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        """Follow every active run no other replica follows (now, and whenever its
        follower dies), and hear of changes other replicas write."""
        await self._listener.start()
        self._lease_task = asyncio.create_task(self._keep_leases(), name="watch-leases")
        # ended runs whose MLflow lookup a stopped process left unfinished (looking up
        # twice, if another replica is at it too, does no harm)
        try:
            pending = await self.in_thread(self.records.pending_lookups)
        except TemplatesError:
            pending = []
        for execution_id, description in pending:
            self._start_final(execution_id, description, ended_here=False)

    async def stop(self) -> None:
        """Stop following; give the leases back so that other replicas take over at
        once rather than when they expire."""
        self._closed = True
        tasks = [*self._watchers.values(), *self._final_tasks.values()]
        if self._lease_task is not None:
            tasks.append(self._lease_task)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._listener.stop()
        try:
            await asyncio.wait_for(self.in_thread(self.leases.release_all), 5)
        except (TemplatesError, asyncio.TimeoutError):
            log.warning("could not give back the watch leases; they expire by themselves")

    def watch(self, key: str) -> None:
        """Make sure the runs in a user's server (:func:`~..hub.client.server_key`) are
        being followed."""
        if self._closed:
            return
        self._kicked.add(key)
        task = self._watchers.get(key)
        if task is None or task.done():
            self._watchers[key] = asyncio.create_task(self._watch(key), name=f"watch-{key}")

    # -- notification ------------------------------------------------------------

    async def publish(self, execution_id: int) -> None:
        """The run's record changed in this process: wake whoever waits on it."""
        event = self._wake.pop(execution_id, None)
        if event is not None:
            event.set()

    def _notified(self, payload: str) -> None:
        """Another replica changed a record (:mod:`..db.notify`)."""
        with contextlib.suppress(ValueError):
            event = self._wake.pop(int(payload), None)
            if event is not None:
                event.set()

    def _wake_all(self) -> None:
        """Changes may have been missed (the listening connection was replaced)."""
        for event in self._wake.values():
            event.set()
        self._wake.clear()

    async def wait_for(
        self,
        execution_id: int,
        predicate: Callable[[dict[str, Any]], bool],
        timeout: float,
    ) -> dict[str, Any] | None:
        """The run's description once ``predicate`` holds for it, or None after
        ``timeout`` seconds. The record is read at once and again after each change,
        whichever replica writes it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._waiting[execution_id] += 1
        try:
            while True:
                # taken before the read: a change committed after it sets this event
                changed = self._wake.setdefault(execution_id, asyncio.Event())
                description = await self.in_thread(self.records.get, execution_id)
                if predicate(description):
                    return description
                left = deadline - loop.time()
                if left <= 0:
                    return None
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(changed.wait(), left)
        finally:
            self._waiting[execution_id] -= 1
            if self._waiting[execution_id] <= 0:
                del self._waiting[execution_id]
                self._wake.pop(execution_id, None)

    async def settle(self, execution_id: int, username: str, timeout: float = 30.0) -> bool:
        """Wait (at most ``timeout`` seconds) for the after-the-end work (log tail, MLflow) of
        a run that has just ended. Returns whether there was such work in this process
        lately, i.e. whether a description read before the call may lack its results.

        Why: the final status is stored before the work starts, so a client that polls
        until the status is final would otherwise read a record without its MLflow runs.
        """
        deadline = asyncio.get_running_loop().time() + timeout

        def registered() -> bool:
            return execution_id in self._final_tasks or not (
                self._ending_users[username] or execution_id in self._ending_ids
            )

        if not registered():
            # the end is being written: its work starts right after
            with contextlib.suppress(asyncio.TimeoutError):
                async with self._changed:
                    await asyncio.wait_for(self._changed.wait_for(registered), timeout)
        task = self._final_tasks.get(execution_id)
        if task is None:
            return False
        left = max(0.0, deadline - asyncio.get_running_loop().time())
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(task), left)
        return True

    @contextlib.asynccontextmanager
    async def _ending(
        self, username: str | None = None, execution_id: int | None = None
    ) -> AsyncIterator[None]:
        """Mark an end being written (see :meth:`settle`) until its work is registered."""
        if username is not None:
            self._ending_users[username] += 1
        if execution_id is not None:
            self._ending_ids.add(execution_id)
        try:
            yield
        finally:
            if username is not None:
                self._ending_users[username] -= 1
                if self._ending_users[username] <= 0:
                    del self._ending_users[username]
            if execution_id is not None:
                self._ending_ids.discard(execution_id)
            async with self._changed:
                self._changed.notify_all()

    # -- applying changes --------------------------------------------------------

    async def apply(
        self, username: str, model: dict[str, Any], boot_id: str | None
    ) -> dict[str, Any] | None:
        """Apply one model from ``username``'s server extension (to that user's records
        only); publish it; start final work."""
        if model.get("status") not in FINAL:
            result = await self.in_thread(self.records.apply_remote, username, model, boot_id)
        else:
            async with self._ending(username=username):
                result = await self.in_thread(self.records.apply_remote, username, model, boot_id)
                if result is not None and result[2]:
                    self._start_final(result[0], result[1])
        if result is None:
            return None
        execution_id, description, _ = result
        await self.publish(execution_id)
        return description

    async def force_final(
        self, execution_id: int, status: str, reason: str | None, message: str
    ) -> None:
        async with self._ending(execution_id=execution_id):
            description = await self.in_thread(
                self.records.finish, execution_id, status, reason, message
            )
            if description is not None:
                self._start_final(execution_id, description)
        if description is not None:
            await self.publish(execution_id)

    def _start_final(
        self, execution_id: int, description: dict[str, Any], *, ended_here: bool = True
    ) -> None:
        if execution_id in self._final_tasks:
            return
        if ended_here:  # this process wrote its final status: once per run
            metrics.execution_finished(description)
            reason = (description.get("error") or {}).get("reason")
            log.info(
                "execution %s ended: %s%s",
                execution_id,
                description.get("status"),
                f" ({reason})" if reason else "",
            )
        task = asyncio.create_task(self._final(execution_id, description))
        self._final_tasks[execution_id] = task

    async def _final(self, execution_id: int, description: dict[str, Any]) -> None:
        try:
            await self.on_final(execution_id, description)
        except Exception:
            log.exception("after-run work of execution %s failed", execution_id)
        finally:
            # keep the finished task briefly so late waiters still find it done
            asyncio.get_running_loop().call_later(
                30, lambda: self._final_tasks.pop(execution_id, None)
            )

    # -- the watcher -------------------------------------------------------------

    async def _watch(self, key: str) -> None:
        username, name = split_key(key)
        since: int | None = None
        boot_id: str | None = None
        server: UserServer | None = None
        unreachable_since: float | None = None
        try:
            self._kicked.discard(key)
            if not await self._take(key):
                return  # another replica follows this user
            while not self._closed:
                self._kicked.discard(key)
                active = await self._active(key)
                if not active:
                    if key in self._kicked:
                        continue
                    # Give the lease back, then look once more: a run recorded before
                    # the release by a replica that found the lease held is ours.
                    await self._release(key)
                    if await self._active(key) and await self._take(key):
                        continue
                    return
                await self._fail_undispatched(active)
                try:
                    if server is None:
                        server = await self.hub.get_server(username, name)
                        if not server.running:
                            raise _Stopped()
                    wait = self.poll_wait if since is not None else 0
                    # a kick (new run) must not wait behind a long poll of old ones
                    data = await self.extension.changes(server, since=since, wait=wait)
                except (_Stopped, Unavailable, NotFound) as e:
                    if not isinstance(e, _Stopped):
                        metrics.long_poll_failed()
                    server, since = None, None
                    unreachable_since = unreachable_since or time.monotonic()
                    if await self._server_gone(key, e, unreachable_since):
                        unreachable_since = None
                    else:
                        await asyncio.sleep(1.0)
                    continue
                except TemplatesError as e:
                    metrics.long_poll_failed()
                    log.warning("following the executions in %s: %s", _where(key), e.message)
                    await asyncio.sleep(2.0)
                    continue
                unreachable_since = None
                if data.get("boot_id") != boot_id:
                    if since is not None:
                        since = None  # the server restarted: resynchronise from scratch
                        boot_id = data.get("boot_id")
                        continue
                    boot_id = data.get("boot_id")
                known = {str(m.get("id")) for m in data.get("executions", [])}
                for model in data.get("executions", []):
                    await self.apply(username, model, boot_id)
                if since is None:
                    # A full listing: active runs dispatched to another incarnation of
                    # the server, or to this one which no longer knows them, were lost.
                    for execution_id, remote_id, run_boot, _ in active:
                        if run_boot and (run_boot != boot_id or remote_id not in known):
                            await self.force_final(
                                execution_id,
                                Status.FAILED,
                                Reason.SERVER_STOPPED,
                                "The user's server stopped or restarted during the run.",
                            )
                since = int(data.get("seq", 0))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("watcher of the executions in %s stopped", _where(key))
            await self._release(key)
        finally:
            self._follows(key, False)
            if self._watchers.get(key) is asyncio.current_task():
                del self._watchers[key]
                self._taking_since.pop(key, None)
            if not self._closed and key in self._kicked:
                self.watch(key)

    # -- leases ------------------------------------------------------------------

    async def _take(self, key: str) -> bool:
        """Hold ``key``'s watch lease; False when another replica holds it or the
        database is away (then :meth:`_keep_leases` tries again)."""
        self._taking_since[key] = time.monotonic()
        try:
            taken = await self.in_thread(self.leases.take, WATCH, key, self.lease_ttl)
        except TemplatesError as e:
            log.warning("cannot take over the executions in %s yet: %s", _where(key), e.message)
            return False
        if taken:
            self._follows(key, True)
        return taken

    def _follows(self, key: str, following: bool) -> None:
        """Whether this process holds ``key``'s lease and follows its runs (counted)."""
        if following:
            self._following.add(key)
        else:
            self._following.discard(key)
        metrics.watchers(len(self._following))

    async def _release(self, key: str) -> None:
        self._taking_since.pop(key, None)
        self._follows(key, False)
        try:
            await self.in_thread(self.leases.release, WATCH, key)
        except TemplatesError:
            pass  # it expires by itself

    async def _keep_leases(self) -> None:
        """Every third of ``lease_ttl``: renew this replica's leases, stop watchers whose
        lease another replica has taken, and follow the active users nobody follows."""
        renewed = time.monotonic()
        while not self._closed:
            began = time.monotonic()
            try:
                held = await self.in_thread(self.leases.renew, WATCH, self.lease_ttl)
                renewed = began
                self._drop_lost(held, began)
                await self._adopt(held)
            except TemplatesError as e:
                log.warning("cannot renew the watch leases: %s", e.message)
                if time.monotonic() - renewed > self.lease_ttl:
                    # they have expired: others may follow these users by now
                    self._drop_lost(set(), time.monotonic())
            await asyncio.sleep(self.lease_ttl / 3)

    def _drop_lost(self, held: set[str], since: float) -> None:
        """Stop the watchers that took their lease before ``since`` and no longer hold
        it (it expired and another replica took it)."""
        for key, task in list(self._watchers.items()):
            taking = self._taking_since.get(key)
            if key not in held and taking is not None and taking < since:
                log.info("another replica follows the executions in %s now", _where(key))
                self._taking_since.pop(key, None)
                task.cancel()

    async def _adopt(self, held: set[str]) -> None:
        """Follow every user with active runs whose lease is free, expired or ours;
        give back leases of ours that nobody uses."""
        active = set(await self.in_thread(self.records.active_servers))
        live = await self.in_thread(self.leases.live, WATCH)
        adopted = 0
        for key in active:
            if key in self._watchers:
                continue
            if live.get(key) in (None, self.leases.holder):
                adopted += 1
                self.watch(key)
        if adopted:
            log.info("following the active executions in %d more server(s)", adopted)
        for key in held - active - set(self._watchers):
            await self._release(key)

    async def _active(self, key: str) -> list[tuple[int, str, str | None, datetime.datetime]]:
        while True:
            try:
                return await self.in_thread(self.records.active_for, key)
            except Unavailable:
                await asyncio.sleep(2.0)

    async def _fail_undispatched(
        self, active: list[tuple[int, str, str | None, datetime.datetime]]
    ) -> None:
        now = utcnow()
        for execution_id, _, run_boot, created in active:
            if run_boot is None and (now - created).total_seconds() > self.undispatched_grace:
                await self.force_final(
                    execution_id,
                    Status.FAILED,
                    Reason.ERROR,
                    "The run was never handed to the user's server (the service stopped "
                    "while dispatching it).",
                )

    async def _server_gone(self, key: str, error: Exception, since: float) -> bool:
        """Decide whether the runs in a user's server were lost with it; fail them if so."""
        try:
            server = await self.hub.get_server(*split_key(key))
            stopped = not server.running
        except NotFound:
            stopped = True
        except Unavailable:
            return False  # the Hub itself is away: decide later
        if not stopped and time.monotonic() - since < self.stopped_grace:
            return False
        for execution_id, _, _, _ in await self._active(key):
            await self.force_final(
                execution_id,
                Status.FAILED,
                Reason.SERVER_STOPPED,
                "The user's server stopped during the run.",
            )
        return True


def _where(key: str) -> str:
    """A server key for a log line: ``alice's server`` or ``alice's server 'runs'``."""
    username, name = split_key(key)
    return f"{username}'s server {name!r}" if name else f"{username}'s server"


class _Stopped(Exception):
    """The Hub says the user's server is not running."""


def is_final(description: dict[str, Any]) -> bool:
    return description.get("status") in FINAL
