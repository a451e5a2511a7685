"""The gRPC Ingest service: enrolment and the agents' Connect streams."""

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc

from collector import metrics
from collector.clock import utcnow
from collector.directory.store import DirectoryStore
from collector.ingest.batcher import GroupCommitter
from collector.ingest.policies import DevicePolicies
from collector.ingest.presence import Presence
from collector.ingest.ratelimit import EventRateLimit
from collector.ingest.wire import convert_batch
from collector.security.ca import CertificateAuthority
from collector.security.credentials import DEVICE_PREFIX, new_token, token_hash
from collector.settings import Settings
from collector.store import DeviceRecord, Store, TokenRejected
from collector.store.interface import DeviceRegistration, TriggerFn
from lantern.pki import split_token
from lantern.v1 import lantern_pb2 as pb
from lantern.v1 import lantern_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

HELLO_TIMEOUT_S = 10.0
# Before asking an agent to resend a batch the store could not take.
STORE_RETRY_PAUSE_S = 1.0


class IngestService(pb_grpc.IngestServicer):
    def __init__(
        self,
        store: Store,
        triggers: TriggerFn,
        settings: Settings,
        ca: CertificateAuthority | None = None,
    ) -> None:
        """`ca` None means plain-text mode: no client certificates are issued or checked."""
        self.ca = ca
        self.store = store
        self.directory = DirectoryStore.for_store(store)
        postgres = self.directory.engine.dialect.name == "postgresql"
        self.committer = GroupCommitter(store, triggers, writers=3 if postgres else 1)
        self.presence = Presence(store)
        self.policies = DevicePolicies(store, self.directory, settings)
        self._enrol_limit = EnrolmentLimit(settings.enrolments_per_minute)
        self._event_limit = EventRateLimit(
            settings.device_events_per_second,
            settings.device_event_burst,
            settings.global_events_per_second,
            settings.global_event_burst,
            min_burst=settings.max_batch_events,
        )
        self.triggers = triggers
        self.settings = settings
        # device id → session ids of its open streams (this process only).
        self.connected: dict[str, set[str]] = {}

    async def Enrol(
        self, request: pb.EnrolRequest, context: grpc.aio.ServicerContext
    ) -> pb.EnrolResponse:
        if not self._enrol_limit.allow(_peer_host(context.peer()), time.monotonic()):
            metrics.ENROLMENTS.labels("rate_limited").inc()
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                "too many enrolments from this address; try again in a minute",
            )
        if not request.token or not request.instance_id:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "token and instance_id are required"
            )
        registration = DeviceRegistration(
            instance_id=request.instance_id[:64],
            hostname=request.hostname[:255],
            hardware_serial=request.hardware_serial[:128],
            os=request.os[:32],
            os_version=request.os_version[:128],
            agent_version=request.agent_version[:32],
        )
        secret = new_token(DEVICE_PREFIX)
        try:
            device = await asyncio.to_thread(
                self.store.enrol_device,
                token_hash(split_token(request.token)[0]),
                registration,
                token_hash(secret),
                utcnow(),
            )
        except TokenRejected as exc:
            log.warning("enrolment refused: %s (host %s)", exc.reason, registration.hostname)
            metrics.ENROLMENTS.labels(exc.reason).inc()
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, exc.reason)
            raise  # unreachable: abort raises
        response = pb.EnrolResponse(
            device_id=device.id,
            device_secret=secret,
            policy=(await asyncio.to_thread(self.policies.resolve, device.id))[0],
        )
        if self.ca is not None:
            try:
                response.client_cert_pem = self.ca.sign_client(request.csr_pem, device.id)
            except ValueError as exc:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            response.ca_cert_pem = self.ca.cert_pem
        log.info("device enrolled: %s (%s)", device.id, device.hostname)
        metrics.ENROLMENTS.labels("ok").inc()
        return response

    async def Renew(
        self, request: pb.RenewRequest, context: grpc.aio.ServicerContext
    ) -> pb.RenewResponse:
        """A new client certificate, requested over mutual TLS with the one it replaces."""
        if self.ca is None:
            await context.abort(
                grpc.StatusCode.FAILED_PRECONDITION, "plain-text mode: no certificates"
            )
            raise AssertionError("unreachable")
        try:
            device = await asyncio.to_thread(
                self.store.authenticate_device, request.device_id, token_hash(request.device_secret)
            )
        except TokenRejected as exc:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, exc.reason)
            raise
        if _peer_common_name(context) != device.id:
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED, "renew with this device's current certificate"
            )
        try:
            cert = self.ca.sign_client(request.csr_pem, device.id)
        except ValueError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            raise
        log.info("client certificate renewed for device %s", device.id)
        return pb.RenewResponse(client_cert_pem=cert)

    async def Connect(
        self, request_iterator: AsyncIterator[pb.AgentMessage], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.CollectorMessage]:
        requests = aiter(request_iterator)
        try:
            first = await asyncio.wait_for(anext(requests), HELLO_TIMEOUT_S)
        except (TimeoutError, StopAsyncIteration):
            yield _refusal("bad_hello", "the first message on Connect must be a Hello")
            return
        if first.WhichOneof("body") != "hello":
            yield _refusal("bad_hello", "the first message on Connect must be a Hello")
            return
        hello = first.hello
        try:
            device = await asyncio.to_thread(
                self.store.authenticate_device, hello.device_id, token_hash(hello.device_secret)
            )
        except TokenRejected as exc:
            log.warning("stream refused: %s", exc.reason)
            yield _refusal(exc.reason, f"device refused: {exc.reason}")
            return
        if self.ca is not None and _peer_common_name(context) != device.id:
            log.warning("stream refused: device %s without its client certificate", device.id)
            yield _refusal("certificate_mismatch", "the client certificate is not this device's")
            return
        sessions = self.connected.setdefault(device.id, set())
        if hello.session_id:
            # Another live agent holding this identity — on this process, or on another ingest
            # process (the devices row says) — is a cloned disk image. Keep both streams (both
            # laptops need monitoring) and show IT, who re-enrol one of them.
            now = utcnow()
            live_since = now - timedelta(seconds=self.settings.heartbeat_seconds * 3)
            if await asyncio.to_thread(
                self.store.open_session,
                device.id,
                hello.session_id,
                now,
                live_since,
                clone=bool(sessions - {hello.session_id}),
            ):
                log.warning("device %s: two live agents share one identity (cloned?)", device.id)
        sessions.add(hello.session_id)
        metrics.STREAMS.inc()
        try:
            self.presence.seen(device.id)
            policy = await self.policies.current(device.id)
            sent_policy = policy.version
            yield pb.CollectorMessage(policy=policy)
            async for message in requests:
                # Revocation reaches open streams through one shared read every 2 s.
                if self.presence.is_revoked(device.id):
                    log.warning("stream of device %s closed: revoked", device.id)
                    yield _refusal("revoked", "device refused: revoked")
                    return
                body = message.WhichOneof("body")
                if body == "batch":
                    for reply in await self._ingest(device, message.batch):
                        yield reply
                elif body == "heartbeat":
                    hb = message.heartbeat
                    caps = {
                        "windows": hb.capabilities.windows,
                        "keyboard": hb.capabilities.keyboard,
                        "browser": hb.capabilities.browser,
                    }
                    self.presence.seen(device.id, caps, hb.spool_depth)
                    # A policy change reaches agents at their first heartbeat after this
                    # process sees the policy generation move (within 2 s of the edit).
                    policy = await self.policies.current(device.id)
                    if policy.version != sent_policy:
                        sent_policy = policy.version
                        yield pb.CollectorMessage(policy=policy)
                else:
                    log.warning("device %s sent an unexpected %s", device.id, body)
        finally:
            metrics.STREAMS.dec()
            sessions.discard(hello.session_id)
            if hello.session_id and hello.session_id not in sessions:
                # Not awaited: a stream that ends by cancellation (the agent went away) cannot
                # await here, and the write must still happen.
                asyncio.get_running_loop().run_in_executor(
                    None, self._close_session, device.id, hello.session_id
                )
            if not sessions:
                self.connected.pop(device.id, None)

    def _close_session(self, device_id: str, session_id: str) -> None:
        try:
            self.store.close_session(device_id, session_id)
        except Exception:  # the database may be why the stream ended; the next Hello corrects it
            log.warning("device %s: could not record the end of its stream", device_id)

    async def close(self) -> None:
        """Stop the background writers, flushing what they hold."""
        await self.committer.close()
        await self.presence.close()

    async def _ingest(
        self, device: DeviceRecord, batch: pb.EventBatch
    ) -> list[pb.CollectorMessage]:
        """The replies to one batch: its Ack, after a Throttle when a rate limit refused it."""
        limit = self.settings.max_batch_events
        if len(batch.events) > limit:
            metrics.BATCHES.labels("retry").inc()
            return [
                _ack(
                    batch_id=batch.batch_id,
                    retry=True,
                    max_batch_events=limit,
                    reason=f"batch of {len(batch.events)} events is over the limit of {limit}",
                )
            ]
        admission = self._event_limit.admit(device.id, len(batch.events), time.monotonic())
        if not admission.ok:
            metrics.BATCHES.labels("throttled").inc()
            retry_ms = max(1, math.ceil(admission.retry_after_s * 1000))
            throttle = pb.Throttle(
                max_events_per_second=admission.max_events_per_second, retry_after_ms=retry_ms
            )
            reason = f"rate limited ({admission.scope}): send this batch again in {retry_ms} ms"
            return [
                pb.CollectorMessage(throttle=throttle),
                _ack(batch_id=batch.batch_id, retry=True, reason=reason),
            ]
        return [pb.CollectorMessage(ack=await self._store_batch(device, batch))]

    async def _store_batch(self, device: DeviceRecord, batch: pb.EventBatch) -> pb.Ack:
        converted = convert_batch(batch, device.id, datetime.now(UTC))
        for event_id, reason in converted.rejected:
            log.warning("device %s: event %s rejected: %s", device.id, event_id, reason)
        try:
            result = await self.committer.submit(converted.rows)
        except Exception:
            # The database is away (restart, disk full): nothing was committed, so ask for the
            # batch again after a pause instead of ending the stream.
            metrics.BATCHES.labels("retry").inc()
            await asyncio.sleep(STORE_RETRY_PAUSE_S)
            return pb.Ack(
                batch_id=batch.batch_id, retry=True, reason="the collector could not store this yet"
            )
        self.policies.note_users(device.id, converted.rows)
        reason = "; ".join(sorted({r for _, r in converted.rejected}))
        metrics.BATCHES.labels("stored").inc()
        metrics.EVENTS.labels("stored").inc(result.stored)
        metrics.EVENTS.labels("duplicate").inc(result.duplicates)
        metrics.EVENTS.labels("rejected").inc(len(converted.rejected))
        return pb.Ack(
            batch_id=batch.batch_id,
            stored=result.stored,
            duplicates=result.duplicates,
            rejected=len(converted.rejected),
            reason=reason,
        )


def _ack(**fields: Any) -> pb.CollectorMessage:
    return pb.CollectorMessage(ack=pb.Ack(**fields))


class EnrolmentLimit:
    """Enrolments per source address per minute: generous enough for a lab imaging a trolley of
    laptops behind one NAT address, far too few for guessing tokens."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._seen: dict[str, list[float]] = {}

    def allow(self, host: str, now: float) -> bool:
        recent = [t for t in self._seen.get(host, []) if now - t < 60.0]
        if len(recent) >= self.per_minute:
            self._seen[host] = recent
            return False
        recent.append(now)
        self._seen[host] = recent
        if len(self._seen) > 10_000:  # forget quiet addresses
            self._seen = {h: ts for h, ts in self._seen.items() if ts and now - ts[-1] < 60.0}
        return True


def _peer_host(peer: str) -> str:
    """'ipv4:10.0.0.5:51234' → '10.0.0.5'; 'ipv6:[::1]:5' → '[::1]'."""
    address = peer.split(":", 1)[1] if ":" in peer else peer
    return address.rsplit(":", 1)[0]


def _peer_common_name(context: grpc.aio.ServicerContext) -> str | None:
    names = context.auth_context().get("x509_common_name") or []
    return names[0].decode() if names else None


def _refusal(code: str, message: str) -> pb.CollectorMessage:
    metrics.REFUSALS.labels(code).inc()
    return pb.CollectorMessage(refusal=pb.Refusal(code=code, message=message))
