"""The collector's own certificate authority, created on first start under var/ca/.

It signs the collector's server certificate and each agent's client certificate (mutual TLS on
Connect). Back up var/ca/ with the database: losing the CA key means re-enrolling every device.
"""

import datetime as dt
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from collector.clock import utcnow
from lantern.pki import COLLECTOR_TLS_NAME, fingerprint

CA_VALIDITY = dt.timedelta(days=3650)
SERVER_VALIDITY = dt.timedelta(days=397)
CLIENT_VALIDITY = dt.timedelta(days=90)  # agents renew at two thirds of this
RENEW_SERVER_BEFORE = dt.timedelta(days=30)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@dataclass
class CertificateAuthority:
    directory: Path
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.cert.public_bytes(serialization.Encoding.DER))

    @classmethod
    def load_or_create(cls, directory: Path) -> "CertificateAuthority":
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        key_path, cert_path = directory / "ca.key", directory / "ca.pem"
        if key_path.exists() and cert_path.exists():
            key = serialization.load_pem_private_key(key_path.read_bytes(), None)
            assert isinstance(key, ec.EllipticCurvePrivateKey)
            return cls(directory, key, x509.load_pem_x509_certificate(cert_path.read_bytes()))
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Lantern"),
                x509.NameAttribute(
                    NameOID.COMMON_NAME, f"Lantern collector CA ({socket.gethostname()})"
                ),
            ]
        )
        now = utcnow()
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + CA_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        _write_private(key_path, _key_pem(key))
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return cls(directory, key, cert)

    def _issue(
        self,
        subject: x509.Name,
        public_key: ec.EllipticCurvePublicKey,
        validity: dt.timedelta,
        usage: x509.ObjectIdentifier,
        sans: list[x509.GeneralName],
    ) -> x509.Certificate:
        now = utcnow()
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + validity)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return builder.sign(self.key, hashes.SHA256())

    def server_credentials(self, extra_names: list[str] | None = None) -> tuple[bytes, bytes]:
        """(key PEM, chain PEM = leaf + CA) for the collector, renewed when near expiry. The chain
        includes the CA so enrolling agents can find the pinned certificate in the handshake."""
        key_path, cert_path = self.directory / "server.key", self.directory / "server.pem"
        if key_path.exists() and cert_path.exists():
            leaf = x509.load_pem_x509_certificates(cert_path.read_bytes())[0]
            if leaf.not_valid_after_utc - utcnow() > RENEW_SERVER_BEFORE:
                return key_path.read_bytes(), cert_path.read_bytes()
        key = ec.generate_private_key(ec.SECP256R1())
        names = [COLLECTOR_TLS_NAME, "localhost", socket.gethostname(), *(extra_names or [])]
        sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dict.fromkeys(names)]
        leaf = self._issue(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, COLLECTOR_TLS_NAME)]),
            key.public_key(),
            SERVER_VALIDITY,
            ExtendedKeyUsageOID.SERVER_AUTH,
            sans,
        )
        chain = leaf.public_bytes(serialization.Encoding.PEM) + self.cert_pem
        _write_private(key_path, _key_pem(key))
        cert_path.write_bytes(chain)
        return _key_pem(key), chain

    def sign_client(self, csr_pem: bytes, device_id: str) -> bytes:
        """A client certificate for a device: CN is the device id, whatever the CSR asked for."""
        csr = x509.load_pem_x509_csr(csr_pem)
        if not csr.is_signature_valid:
            raise ValueError("certificate signing request signature is invalid")
        public_key = csr.public_key()
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            raise ValueError("client keys must be elliptic-curve (P-256)")
        cert = self._issue(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, device_id)]),
            public_key,
            CLIENT_VALIDITY,
            ExtendedKeyUsageOID.CLIENT_AUTH,
            [],
        )
        return cert.public_bytes(serialization.Encoding.PEM)
