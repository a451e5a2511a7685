"""Enrolment: exchange IT's token for a device identity and a client certificate.

The token carries the collector CA's fingerprint; the agent finds that CA in the collector's TLS
handshake and trusts nothing else, so enrolment is safe on an untrusted network.
"""

import asyncio
from pathlib import Path

from agent import identity as ident
from agent.transport import GrpcTransport, TransportError
from lantern import __version__
from lantern.pki import PinMismatch, fetch_pinned_ca, new_key_and_csr, split_token
from lantern.v1 import lantern_pb2 as pb


class EnrolmentError(Exception):
    """Enrolment did not happen; the message says why in terms IT can act on."""


def default_enrol_address(collector: str) -> str:
    """The collector's enrolment endpoint: the same host, the next port (collector default)."""
    host, _, port = collector.rpartition(":")
    return f"{host}:{int(port) + 1}"


def enrol(
    state_dir: Path,
    collector: str,
    token: str,
    *,
    plaintext: bool = False,
    enrol_address: str | None = None,
) -> str:
    """Enrol this device; returns the device id. Re-enrolment keeps the instance id.

    `collector` is the Connect address the agent will stream to; enrolment itself goes to
    `enrol_address` (default: the next port), which needs no client certificate."""
    existing = ident.Identity.load(state_dir)
    instance_id = existing.instance_id if existing else ident.new_instance_id()
    _, pinned = split_token(token)
    request = pb.EnrolRequest(
        token=token,
        instance_id=instance_id,
        hostname=ident.hostname(),
        hardware_serial=ident.hardware_serial(),
        os=ident.os_name(),
        os_version=ident.os_version(),
        agent_version=__version__,
    )
    key_pem = b""
    if plaintext:
        transport = GrpcTransport(collector)
    else:
        if pinned is None:
            raise EnrolmentError(
                "this token carries no CA fingerprint: the collector runs in plain text "
                "(enrol with --plaintext only on a trusted test network) or the token is cut short"
            )
        try:
            enrol_at = enrol_address or default_enrol_address(collector)
            ca_pem = fetch_pinned_ca(enrol_at, pinned)
        except PinMismatch as exc:
            raise EnrolmentError(str(exc)) from None
        except OSError as exc:
            raise EnrolmentError(f"cannot reach {enrol_at}: {exc}") from None
        key_pem, request.csr_pem = new_key_and_csr(instance_id)
        transport = GrpcTransport(enrol_at, ca_pem=ca_pem)
    try:
        response = asyncio.run(transport.enrol(request))
    except TransportError as exc:
        raise EnrolmentError(str(exc)) from None
    if not plaintext:
        if not response.client_cert_pem:
            raise EnrolmentError("the collector issued no client certificate")
        ident.TlsFiles(key=key_pem, cert=response.client_cert_pem, ca=ca_pem).save(state_dir)
    ident.Identity(
        instance_id=instance_id,
        collector=collector,
        device_id=response.device_id,
        device_secret=response.device_secret,
        tls=not plaintext,
    ).save(state_dir)
    if response.HasField("policy"):
        (state_dir / "policy.bin").write_bytes(response.policy.SerializeToString())
    return response.device_id
