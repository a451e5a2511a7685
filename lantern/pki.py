"""Certificates both sides need: fingerprints, keys and CSRs (the collector's CA lives in
collector/security/ca.py). Enrolment tokens carry the CA's fingerprint so an agent can enrol over
an untrusted network by pinning, not by trusting on first use."""

import hashlib
import socket
import ssl

# cryptography costs ~15 MB of RSS: it is imported only where keys and CSRs are made (enrolment),
# never by a running agent.

# The name every collector certificate carries and every agent checks, whatever address IT gives
# the agent (IP, internal DNS, load balancer): trust comes from the pinned private CA, not from DNS.
COLLECTOR_TLS_NAME = "lantern-collector"
TOKEN_FINGERPRINT_SEPARATOR = "."


def fingerprint(cert_pem_or_der: bytes) -> str:
    """SHA-256 of a certificate's DER encoding, lower-case hex."""
    if cert_pem_or_der.lstrip().startswith(b"-----BEGIN"):
        cert_pem_or_der = ssl.PEM_cert_to_DER_cert(cert_pem_or_der.decode())
    return hashlib.sha256(cert_pem_or_der).hexdigest()


def split_token(token: str) -> tuple[str, str | None]:
    """'lte_secret.fingerprint' → ('lte_secret', 'fingerprint'); plain-text mode tokens have none."""
    secret, sep, fp = token.partition(TOKEN_FINGERPRINT_SEPARATOR)
    return secret, (fp.lower() if sep else None)


def new_key_and_csr(common_name: str) -> tuple[bytes, bytes]:
    """A fresh P-256 key (PEM, unencrypted: the state directory is owner-only) and a CSR for it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return key_pem, csr.public_bytes(serialization.Encoding.PEM)


class PinMismatch(Exception):
    """The collector did not present the CA named in the enrolment token."""


def fetch_pinned_ca(address: str, expected_fingerprint: str, timeout: float = 10.0) -> bytes:
    """Connect without trusting anything, read the collector's certificate chain and return the
    certificate whose fingerprint the token names (PEM). Raises PinMismatch otherwise."""
    host, _, port = address.rpartition(":")
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # verified below against the pinned fingerprint instead
    ctx.set_alpn_protocols(["h2"])
    with (
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout) as raw,
        ctx.wrap_socket(raw, server_hostname=COLLECTOR_TLS_NAME) as tls,
    ):
        # Python 3.13 has SSLSocket.get_unverified_chain(); 3.11/3.12 expose it on _sslobj.
        getter = getattr(tls, "get_unverified_chain", None) or tls._sslobj.get_unverified_chain  # type: ignore[attr-defined]
        chain = getter() or []
        ders = [
            c if isinstance(c, bytes) else c.public_bytes(ssl._ssl.ENCODING_DER)  # type: ignore[attr-defined]
            for c in chain
        ]
    for der in ders:
        if hashlib.sha256(der).hexdigest() == expected_fingerprint:
            return ssl.DER_cert_to_PEM_cert(der).encode()
    raise PinMismatch(
        "the collector's certificate chain does not contain the CA named in the enrolment token: "
        "wrong address, or someone in between"
    )
