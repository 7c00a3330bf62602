"""Remote control's lifecycle: the desired state, the enrollment, the token, pairing, the
client list, the status, and the supervisor that keeps the host link up.

spec/remote-control.md §3, §4.6, §6.1, §8 and remote-control-observed.md §3 (the binary
wins). One :class:`RemoteControlService` per gateway, whatever the backend: the
``remoteControl/*`` methods (:mod:`appserver.remote_control.methods`) call it, and its
:meth:`run` task dials the relay while remote control is enabled.

Enrollment and token handling share one lock (upstream's "current enrollment" mutex), so
pairing and the connect path never enroll twice or replace different rows at once.
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TypeVar

import anyio
import httpx

from appserver import __version__, limits, strings
from appserver.queues import Pulse
from appserver.remote_control import backoff
from appserver.remote_control.api import (
    APP_SERVER_VERSION,
    ClientHeaders,
    EnrollResult,
    RelayApi,
    host_arch,
)
from appserver.remote_control.credentials import Credential, CredentialError, CredentialSource
from appserver.remote_control.enrollment import Enrollment, RefreshRequirement
from appserver.remote_control.errors import ErrorKind, RemoteControlError
from appserver.remote_control.identity import Identity
from appserver.remote_control.status import RcStatus, StatusModel, StatusSnapshot
from appserver.remote_control.store import Store
from appserver.remote_control.urls import RemoteControlTarget

log = logging.getLogger("appserver.remote_control")

T = TypeVar("T")

#: The persistence key's client name (see appserver.remote_control.store).
CLIENT_NAME = ""


@dataclass(slots=True)
class RcMetrics:
    """Counters for ``/metrics`` (appserver.remote_control.metrics)."""

    envelopes_in: int = 0
    envelopes_out: int = 0
    replayed: int = 0
    reconnects: int = 0
    connects: int = 0
    streams_opened: int = 0
    bad_envelopes: int = 0
    enrolls: int = 0
    refreshes: int = 0
    by_type_in: dict[str, int] = field(default_factory=dict)


class RemoteControlService:
    """Everything remote control knows and does, behind the methods and the link."""

    def __init__(
        self,
        target: RemoteControlTarget,
        source: CredentialSource | None,
        identity: Identity,
        store: Store | None,
        *,
        source_error: str | None = None,
        http_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.target = target
        self.source = source
        #: Why there is no credential source (a bad token file given to a running gateway).
        self.source_error = source_error
        self.identity = identity
        self.store = store
        self.metrics = RcMetrics()
        self.status = StatusModel(
            identity.server_name, identity.installation_id, on_change=self._status_changed
        )
        self.api = RelayApi(target, identity.installation_id, self.client_headers, transport=http_transport)
        self.enrollment: Enrollment | None = None
        self.enabled = False
        self._lock = anyio.Lock()
        self._wake = Pulse()  # desired state or auth changed
        self._changed = Pulse()  # status changed (broadcaster)
        self._first_local_client: str | None = None
        self._last_client: tuple[str, str] | None = None
        #: Set by the link module: called to drop the socket at once on disable.
        self.drop_link: Callable[[], None] = lambda: None
        #: The link's (client_id, stream_id) streams, for metrics.
        self.open_streams: Callable[[], int] = lambda: 0

    # --- clients seen (originator / user-agent of relay calls) --------------------------------

    def note_client(self, name: str | None, version: str | None, *, local: bool) -> None:
        if name is None:
            return
        if local and self._first_local_client is None:
            self._first_local_client = name
        self._last_client = (name, version or "")

    def client_headers(self) -> ClientHeaders:
        originator = self._first_local_client or "appserver"
        system = f"{platform.system()} {platform.release()}; {host_arch()}"
        agent = f"{originator}/{APP_SERVER_VERSION} ({system}) appserver/{__version__}"
        if self._last_client is not None:
            agent += f" ({self._last_client[0]}; {self._last_client[1]})"
        return ClientHeaders(originator, agent)

    # --- status ------------------------------------------------------------------------------

    def _status_changed(self, value: StatusSnapshot) -> None:
        log.info(
            "remote control status: %s (environment %s)", value.status.value, value.environment_id
        )
        self._changed.fire()

    async def wait_status_change(self) -> StatusSnapshot:
        await self._changed.wait()
        return self.status.value

    # --- credentials -------------------------------------------------------------------------

    def credential(self) -> Credential:
        if self.source is None:
            raise RemoteControlError(ErrorKind.OTHER, self.source_error or strings.RC_REQUIRES_CHATGPT)
        try:
            return self.source.load()
        except CredentialError as exc:
            # Observed: a login that is not ChatGPT makes enable answer -32603 (Other).
            kind = ErrorKind.WOULD_BLOCK if exc.waiting else ErrorKind.OTHER
            raise RemoteControlError(kind, str(exc)) from None

    async def _with_recovery(self, call: Callable[[Credential], Awaitable[T]], *, only_401: bool = False) -> T:
        """Run ``call``; after a 401/403 (or only 401), retry once if the login changed."""
        credential = self.credential()
        try:
            return await call(credential)
        except RemoteControlError as exc:
            denied = exc.status == 401 if only_401 else exc.kind is ErrorKind.PERMISSION_DENIED
            if not denied or self.source is None or not self.source.recover():
                raise
        return await call(self.credential())

    # --- enrollment and token ----------------------------------------------------------------

    async def current_enrollment(self) -> Enrollment:
        """The enrollment for the current account: memory, then our SQLite file, then enroll."""
        async with self._lock:
            return await self._enrollment_locked()

    async def _enrollment_locked(self) -> Enrollment:
        credential = self.credential()
        current = self.enrollment
        if current is not None and current.account_id == credential.account_id:
            return current
        if current is not None:
            log.info("remote control account changed; dropping the old enrollment")
            self.enrollment = None
            self.status.set_environment(None)
            self.drop_link()
        ws_url = self.target.websocket_url
        row = await self.store.get(ws_url, credential.account_id, CLIENT_NAME) if self.store else None
        if row is not None:
            log.info(
                "reusing persisted remote control enrollment: server_id=%s environment_id=%s",
                row.server_id, row.environment_id,
            )
            enrollment = Enrollment(row.account_id, row.server_id, row.environment_id, row.server_name)
        else:
            enrollment = await self._enroll()
        self.enrollment = enrollment
        self.status.set_environment(enrollment.environment_id)
        return enrollment

    async def _enroll(self) -> Enrollment:
        server_name = self.identity.server_name
        account: list[str] = []

        async def call(credential: Credential) -> EnrollResult:
            account[:] = [credential.account_id]
            return await self.api.enroll(credential, server_name)

        result = await self._with_recovery(call)
        self.metrics.enrolls += 1
        enrollment = Enrollment(account[0], result.server_id, result.environment_id, server_name)
        enrollment.set_token(result.token, result.expires_at)
        log.info(
            "remote control enrolled with %s: server_id=%s environment_id=%s",
            self.target.base_url, result.server_id, result.environment_id,
        )
        if self.store is not None:
            await self.store.upsert(
                self.target.websocket_url, enrollment.account_id, CLIENT_NAME,
                server_id=enrollment.server_id, environment_id=enrollment.environment_id,
                server_name=server_name,
            )
        return enrollment

    async def _forget_stale(self, enrollment: Enrollment) -> None:
        """The relay does not know this server any more (404): delete the row."""
        log.info("remote control enrollment %s is stale; enrolling again", enrollment.server_id)
        if self.store is not None:
            await self.store.delete(self.target.websocket_url, enrollment.account_id, CLIENT_NAME)
        if self.enrollment is enrollment:
            self.enrollment = None

    async def _reenroll_keeping_preference(self, enrollment: Enrollment) -> Enrollment:
        enabled = (
            await self.store.enabled_preference(self.target.websocket_url, enrollment.account_id)
            if self.store is not None
            else False
        )
        await self._forget_stale(enrollment)
        fresh = await self._enrollment_locked()
        if enabled and self.store is not None:
            await self.store.set_enabled(self.target.websocket_url, fresh.account_id, CLIENT_NAME, True)
        return fresh

    async def fresh_token(self) -> tuple[Enrollment, str]:
        """The enrollment and a usable host token, refreshing it by upstream's rules."""
        async with self._lock:
            return await self._fresh_token_locked()

    async def _fresh_token_locked(self) -> tuple[Enrollment, str]:
        enrollment = await self._enrollment_locked()
        now = datetime.now(timezone.utc)
        requirement = enrollment.refresh_requirement(now)
        if requirement is RefreshRequirement.NOT_NEEDED:
            assert enrollment.token is not None
            return enrollment, enrollment.token
        if (
            requirement is RefreshRequirement.REQUIRED
            and enrollment.next_refresh_at is not None
            and enrollment.next_refresh_at > now
        ):
            raise RemoteControlError(
                ErrorKind.WOULD_BLOCK,
                strings.RC_REFRESH_DEFERRED.format(until=enrollment.next_refresh_at.isoformat()),
            )
        try:
            result = await self._with_recovery(lambda c: self.api.refresh(c, enrollment.server_id))
        except RemoteControlError as exc:
            if exc.kind is ErrorKind.PERMISSION_DENIED:
                enrollment.clear_token()
                raise
            if exc.kind is ErrorKind.NOT_FOUND:
                fresh = await self._reenroll_keeping_preference(enrollment)
                if fresh.token is None:
                    return await self._fresh_token_locked()
                return fresh, fresh.token
            if not exc.transient:
                raise
            until = enrollment.defer_refresh(exc.retry_at, datetime.now(timezone.utc))
            if requirement is RefreshRequirement.REQUIRED:
                log.warning("required remote control token refresh failed; deferring until %s: %s", until, exc)
                raise
            log.warning("proactive remote control token refresh failed; keeping the valid token: %s", exc)
            assert enrollment.token is not None
            return enrollment, enrollment.token
        self.metrics.refreshes += 1
        if result.server_id != enrollment.server_id or result.environment_id != enrollment.environment_id:
            raise RemoteControlError(
                ErrorKind.OTHER,
                strings.RC_REFRESH_MISMATCH.format(
                    sid=enrollment.server_id, eid=enrollment.environment_id,
                    got_sid=result.server_id, got_eid=result.environment_id,
                ),
            )
        enrollment.set_token(result.token, result.expires_at)
        return enrollment, result.token

    def account_changed(self, enrollment: Enrollment) -> bool:
        """Is the login now another account than ``enrollment``'s (spec §4: the link is
        dropped, and the next connect drops the old enrollment and enrolls again)? A login
        that cannot be read now is not a change: the link stays until its token needs it."""
        try:
            credential = self.credential()
        except RemoteControlError:
            return False
        return credential.account_id != enrollment.account_id

    def token_rejected(self, enrollment: Enrollment) -> None:
        """Handshake 401/403: clear the token unless it was rotated meanwhile."""
        if enrollment.same_identity(self.enrollment) and self.enrollment is not None:
            self.enrollment.clear_token()

    async def server_not_found(self, enrollment: Enrollment) -> None:
        """Handshake 404 ``Remote app server not found``: re-enroll within this attempt."""
        async with self._lock:
            if enrollment.same_identity(self.enrollment):
                await self._reenroll_keeping_preference(enrollment)

    # --- desired state -------------------------------------------------------------------------

    def start_enabled(self) -> None:
        """``--remote-control URL``: enabled for this run (codex's ephemeral enable)."""
        self.enabled = True
        self.status.set_status(RcStatus.CONNECTING)
        self._wake.fire()

    async def resolve_persisted(self) -> bool:
        """A plain start honours a durable enable stored for this relay and account."""
        if self.store is None or self.source is None:
            return False
        try:
            credential = self.credential()
        except RemoteControlError:
            return False
        if await self.store.enabled_preference(self.target.websocket_url, credential.account_id):
            self.start_enabled()
            return True
        return False

    async def enable(self, *, ephemeral: bool) -> StatusSnapshot:
        if self.store is None and not ephemeral:
            raise RemoteControlError(ErrorKind.NOT_FOUND, strings.RC_SQLITE_UNAVAILABLE)
        if ephemeral:
            if not self.enabled:
                self.start_enabled()
            return self.status.value
        if self.enabled and self.status.value.status is not RcStatus.ERRORED:
            await self._persist_enabled(True)
            return self.status.value
        async with self._lock:
            enrollment = await self._enrollment_locked()
            assert self.store is not None
            await self._persist_enabled(True, enrollment)
        if not self.enabled:
            self.start_enabled()
        self.status.set_environment(enrollment.environment_id)
        return self.status.value

    async def disable(self, *, ephemeral: bool) -> StatusSnapshot:
        if not ephemeral and self.store is not None:
            try:
                await self._persist_enabled(False)
            except RemoteControlError as exc:
                log.warning("remote control disable: preference not saved: %s", exc)
        self.enabled = False
        self.status.set_status(RcStatus.DISABLED)
        self.drop_link()
        self._wake.fire()
        return self.status.value

    async def _persist_enabled(self, enabled: bool, enrollment: Enrollment | None = None) -> None:
        if self.store is None:
            return
        credential = self.credential()
        url = self.target.websocket_url
        changed = await self.store.set_enabled(url, credential.account_id, CLIENT_NAME, enabled)
        enrollment = enrollment or self.enrollment
        if changed == 0 and enrollment is not None and enrollment.account_id == credential.account_id:
            await self.store.upsert(
                url, credential.account_id, CLIENT_NAME, server_id=enrollment.server_id,
                environment_id=enrollment.environment_id, server_name=enrollment.server_name,
            )
            await self.store.set_enabled(url, credential.account_id, CLIENT_NAME, enabled)

    async def wait_enabled(self) -> None:
        while not self.enabled:
            await self._wake.wait()

    async def sleep_interruptible(self, delay: float) -> None:
        """Sleep ``delay`` seconds, or less if remote control is disabled or re-enabled."""
        with anyio.move_on_after(delay):
            await self._wake.wait()

    # --- pairing -------------------------------------------------------------------------------

    async def pairing_start(self, manual_code: bool) -> dict[str, Any]:
        if not self.enabled:
            raise RemoteControlError(ErrorKind.INVALID_INPUT, strings.RC_PAIRING_REQUIRES_ENABLED)
        async with self._lock:
            enrollment, token = await self._fresh_token_locked()
            try:
                result = await self.api.pair(token, enrollment, manual_code)
            except RemoteControlError as exc:
                if exc.kind is ErrorKind.PERMISSION_DENIED:
                    enrollment.clear_token()
                elif exc.kind is ErrorKind.NOT_FOUND:
                    await self._reenroll_keeping_preference(enrollment)
                else:
                    raise
                try:
                    enrollment, token = await self._fresh_token_locked()
                    result = await self.api.pair(token, enrollment, manual_code)
                except RemoteControlError as again:
                    log.warning("remote control pairing failed after recovery: %s", again)
                    raise RemoteControlError(ErrorKind.OTHER, strings.RC_PAIRING_UNAVAILABLE) from None
        if not self.enabled:
            raise RemoteControlError(ErrorKind.INVALID_INPUT, strings.RC_PAIRING_REQUIRES_ENABLED)
        if self.enrollment is not enrollment:
            raise RemoteControlError(ErrorKind.OTHER, strings.RC_PAIRING_UNAVAILABLE)
        answer: dict[str, Any] = {
            "pairingCode": result.pairing_code,
            "manualPairingCode": result.manual_pairing_code,
            "environmentId": result.environment_id,
            "expiresAt": result.expires_at,
        }
        if result.pairing_url is not None:
            answer["pairingUrl"] = result.pairing_url
        return answer

    async def pairing_status(self, *, pairing_code: str | None, manual_pairing_code: str | None) -> dict[str, Any]:
        if not self.enabled:
            raise RemoteControlError(ErrorKind.INVALID_INPUT, strings.RC_PAIRING_REQUIRES_ENABLED)
        async with self._lock:
            enrollment, token = await self._fresh_token_locked()
            try:
                claimed = await self.api.pair_status(
                    token, pairing_code=pairing_code, manual_pairing_code=manual_pairing_code
                )
            except RemoteControlError as exc:
                if exc.kind is not ErrorKind.PERMISSION_DENIED:
                    raise
                enrollment.clear_token()
                enrollment, token = await self._fresh_token_locked()
                claimed = await self.api.pair_status(
                    token, pairing_code=pairing_code, manual_pairing_code=manual_pairing_code
                )
        return {"claimed": claimed}

    # --- clients -----------------------------------------------------------------------------------

    async def list_clients(
        self, environment_id: str, cursor: str | None, limit: int | None, order: str | None
    ) -> dict[str, Any]:
        return await self._with_recovery(
            lambda c: self.api.list_clients(c, environment_id, cursor=cursor, limit=limit, order=order),
            only_401=True,
        )

    async def revoke_client(self, environment_id: str, client_id: str) -> dict[str, Any]:
        await self._with_recovery(
            lambda c: self.api.revoke_client(c, environment_id, client_id), only_401=True
        )
        return {}

    # --- the supervisor --------------------------------------------------------------------------

    async def run(self, connect_once: Callable[[], Awaitable[None]]) -> None:
        """Keep the link up while enabled. ``connect_once`` dials and serves one socket and
        returns when it ends (raising :class:`RemoteControlError` when the dial failed)."""
        attempt = 0
        while True:
            await self.wait_enabled()
            if self.status.value.status is not RcStatus.ERRORED:
                self.status.set_status(RcStatus.CONNECTING)
            connected_before = self.metrics.connects
            try:
                await connect_once()
            except RemoteControlError as exc:
                if not self.enabled:
                    continue
                if exc.kind is ErrorKind.WOULD_BLOCK and "account id" in exc.message:
                    log.info("remote control: %s", exc.message)
                    await self.sleep_interruptible(limits.RC_WAITING_RETRY)
                    continue
                self.status.set_status(RcStatus.ERRORED)
                log.warning("remote control connect failed: %s", exc.message)
            except Exception:
                # A bug must not take the gateway down: report it and try again later.
                log.exception("remote control connect failed unexpectedly")
                self.status.set_status(RcStatus.ERRORED)
            if not self.enabled:
                continue
            if self.metrics.connects > connected_before:
                attempt = 0  # it connected: start the backoff over
                self.status.set_status(RcStatus.CONNECTING)
            attempt += 1
            delay = backoff.reconnect_delay(attempt)
            self.metrics.reconnects += 1
            log.info("remote control: reconnecting in %.2fs (attempt %d)", delay, attempt)
            await self.sleep_interruptible(delay)

    async def aclose(self) -> None:
        await self.api.aclose()
        if self.store is not None:
            await self.store.aclose()

    def __repr__(self) -> str:
        return f"<RemoteControlService {self.target.base_url} {self.status.value.status.value} enabled={self.enabled}>"
