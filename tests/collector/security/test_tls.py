"""Transport security against a real collector: pinned enrolment, mutual TLS, revocation."""

import asyncio
import time
from pathlib import Path

import pytest

from agent.enrol import EnrolmentError, default_enrol_address, enrol
from agent.identity import Identity, TlsFiles
from agent.sender import Sender, SenderConfig
from agent.spool import Spool
from agent.transport import GrpcTransport
from lantern.pki import split_token
from lantern.v1 import lantern_pb2 as pb
from tests.conftest import Collector


def test_the_enrol_endpoint_defaults_to_the_next_port() -> None:
    assert default_enrol_address("collector.college.ac.uk:50051") == "collector.college.ac.uk:50052"


def test_tokens_carry_the_ca_fingerprint_and_it_survives_restarts(collector: Collector) -> None:
    _, first = split_token(collector.enrolment_token())
    collector.stop()
    collector.start()
    _, second = split_token(collector.enrolment_token())
    assert first is not None and len(first) == 64 and first == second


def test_enrolment_pins_the_ca_and_issues_a_client_certificate(
    collector: Collector, tmp_path: Path
) -> None:
    device_id = enrol(
        tmp_path, collector.grpc, collector.enrolment_token(), enrol_address=collector.enrol
    )
    tls = TlsFiles.load(tmp_path)
    assert b"BEGIN CERTIFICATE" in tls.cert and b"PRIVATE KEY" in tls.key
    assert (tmp_path / "client.key").stat().st_mode & 0o077 == 0
    identity = Identity.load(tmp_path)
    assert identity is not None and identity.device_id == device_id and identity.tls


def test_a_wrong_pin_is_refused_before_anything_is_sent(
    collector: Collector, tmp_path: Path
) -> None:
    secret, _ = split_token(collector.enrolment_token())
    with pytest.raises(EnrolmentError, match="does not contain the CA"):
        enrol(tmp_path, collector.grpc, f"{secret}.{'0' * 64}", enrol_address=collector.enrol)
    assert Identity.load(tmp_path) is None


def test_a_token_without_pin_needs_explicit_plaintext(collector: Collector, tmp_path: Path) -> None:
    secret, _ = split_token(collector.enrolment_token())
    with pytest.raises(EnrolmentError, match="plain text"):
        enrol(tmp_path, collector.grpc, secret, enrol_address=collector.enrol)


def _stream_once(state_dir: Path, transport: GrpcTransport, seconds: float = 3.0) -> Sender:
    identity = Identity.load(state_dir)
    assert identity is not None
    spool = Spool(state_dir, "s1")
    event = pb.Event()
    event.window_focus.title = "Essay"
    spool.append(event)
    sender = Sender(spool, transport, SenderConfig(identity.device_id, identity.device_secret, "t"))

    async def go() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(sender.run(stop))
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and spool.stats().depth:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        stop.set()
        await task

    asyncio.run(go())
    return sender


def test_connect_needs_the_device_certificate(collector: Collector, tmp_path: Path) -> None:
    enrol(tmp_path, collector.grpc, collector.enrolment_token(), enrol_address=collector.enrol)
    tls = TlsFiles.load(tmp_path)
    # Without a client certificate the mutual-TLS port refuses the handshake.
    no_cert = _stream_once(tmp_path, GrpcTransport(collector.grpc, ca_pem=tls.ca), 1.5)
    assert not no_cert.state.events_acked
    # On the enrolment port (no client certificate) Connect is refused by the service.
    wrong_port = _stream_once(tmp_path, GrpcTransport(collector.enrol, ca_pem=tls.ca), 1.5)
    assert wrong_port.state.refused == "certificate_mismatch"
    good = _stream_once(
        tmp_path,
        GrpcTransport(collector.grpc, ca_pem=tls.ca, client_key=tls.key, client_cert=tls.cert),
    )
    assert good.state.events_acked >= 1


def test_a_revoked_device_is_refused(collector: Collector, tmp_path: Path) -> None:
    device_id = enrol(
        tmp_path, collector.grpc, collector.enrolment_token(), enrol_address=collector.enrol
    )
    collector.cli("devices", "revoke", device_id)
    tls = TlsFiles.load(tmp_path)
    sender = _stream_once(
        tmp_path,
        GrpcTransport(collector.grpc, ca_pem=tls.ca, client_key=tls.key, client_cert=tls.cert),
        1.5,
    )
    assert sender.state.refused == "revoked" and not sender.state.events_acked


def test_a_certificate_near_expiry_is_renewed_over_mutual_tls(
    collector: Collector, tmp_path: Path
) -> None:
    import datetime as dt

    from agent.renewal import due, not_after, renew_if_due

    enrol(tmp_path, collector.grpc, collector.enrolment_token(), enrol_address=collector.enrol)
    identity = Identity.load(tmp_path)
    assert identity is not None
    old = TlsFiles.load(tmp_path)
    expiry = not_after(old.cert)
    now = dt.datetime.now(dt.UTC)
    assert dt.timedelta(days=89) < expiry - now <= dt.timedelta(days=90)
    assert not due(old, now)
    assert not asyncio.run(renew_if_due(tmp_path, identity, now))
    later = expiry - dt.timedelta(days=10)  # as if 80 days had passed
    assert asyncio.run(renew_if_due(tmp_path, identity, later))
    new = TlsFiles.load(tmp_path)
    assert new.key != old.key and new.cert != old.cert and not_after(new.cert) >= expiry
    # The renewed certificate streams.
    sender = _stream_once(
        tmp_path,
        GrpcTransport(collector.grpc, ca_pem=new.ca, client_key=new.key, client_cert=new.cert),
    )
    assert sender.state.events_acked >= 1
