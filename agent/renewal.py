"""Client-certificate renewal: a new key and certificate well before the old one expires.

Certificates last 90 days; the agent renews when less than a third is left, over mutual TLS with
the certificate it replaces, so an agent that is switched on at least once a month never needs
re-enrolling. Checked at start and once a day.
"""

import datetime as dt
import logging
import ssl
import tempfile
from pathlib import Path

from agent.identity import Identity, TlsFiles
from agent.transport import GrpcTransport, TransportError
from lantern.pki import new_key_and_csr
from lantern.v1 import lantern_pb2 as pb

log = logging.getLogger(__name__)

RENEW_WHEN_LEFT = dt.timedelta(days=30)


def not_after(cert_pem: bytes) -> dt.datetime:
    """Expiry of a PEM certificate. CPython's own decoder keeps the running agent free of the
    cryptography package (~15 MB); where it is missing, cryptography is used."""
    decode = getattr(ssl._ssl, "_test_decode_cert", None)  # type: ignore[attr-defined]
    if decode is None:
        from cryptography import x509

        return x509.load_pem_x509_certificate(cert_pem).not_valid_after_utc
    with tempfile.NamedTemporaryFile("wb", suffix=".pem") as f:
        f.write(cert_pem)
        f.flush()
        info = decode(f.name)
    return dt.datetime.fromtimestamp(ssl.cert_time_to_seconds(info["notAfter"]), dt.UTC)


def due(tls: TlsFiles, now: dt.datetime) -> bool:
    return not_after(tls.cert) - now < RENEW_WHEN_LEFT


async def renew_if_due(state_dir: Path, identity: Identity, now: dt.datetime) -> bool:
    """Renew the client certificate if it is due; True when a new one was saved."""
    if not identity.tls:
        return False
    tls = TlsFiles.load(state_dir)
    if not due(tls, now):
        return False
    key_pem, csr_pem = new_key_and_csr(identity.instance_id)
    transport = GrpcTransport(
        identity.collector, ca_pem=tls.ca, client_key=tls.key, client_cert=tls.cert
    )
    try:
        response = await transport.renew(
            pb.RenewRequest(
                device_id=identity.device_id,
                device_secret=identity.device_secret,
                csr_pem=csr_pem,
            )
        )
    except TransportError as exc:
        log.warning("certificate renewal failed (%s); will retry", exc)
        return False
    TlsFiles(key=key_pem, cert=response.client_cert_pem, ca=tls.ca).save(state_dir)
    log.info("client certificate renewed; valid until %s", not_after(response.client_cert_pem))
    return True
