"""A small certificate authority for loopback TLS: the local API server, its admin client, webhook servers.

Keys are ECDSA P-256 (fast to generate, accepted by Go's TLS stack and by kube-apiserver). Everything is
returned as PEM bytes; :func:`write_pem` stores a key readable by the owner only.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: Validity of every certificate issued here; long enough for a dev session, short enough to be obviously local.
VALIDITY = datetime.timedelta(days=30)


@dataclass(frozen=True)
class KeyPair:
    """A certificate and its private key, both PEM encoded."""

    certificate_pem: bytes
    private_key_pem: bytes


def _private_key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    # "EC PRIVATE KEY" (SEC 1): kube-apiserver's --service-account-key-file does not read PKCS#8.
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )


def _name(common_name: str, organizations: tuple[str, ...] = ()) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    attributes += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization) for organization in organizations]
    return x509.Name(attributes)


def _validity() -> tuple[datetime.datetime, datetime.datetime]:
    # Backdated a little so a clock skew between processes never makes a fresh certificate "not yet valid".
    now = datetime.datetime.now(datetime.UTC)
    return now - datetime.timedelta(minutes=5), now + VALIDITY


class CertificateAuthority:
    """A self-signed CA that issues server and client certificates."""

    def __init__(self, common_name: str = "memories-local-ca") -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        not_before, not_after = _validity()
        subject = _name(common_name)
        self._certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self._key.public_key()), critical=False)
            .sign(self._key, hashes.SHA256())
        )

    @property
    def certificate_pem(self) -> bytes:
        """The CA certificate (what clients trust, e.g. a webhook's ``caBundle``)."""
        return self._certificate.public_bytes(serialization.Encoding.PEM)

    def issue(
        self,
        common_name: str,
        *,
        organizations: tuple[str, ...] = (),
        dns_names: tuple[str, ...] = (),
        ip_addresses: tuple[str, ...] = (),
        server: bool = True,
        client: bool = False,
    ) -> KeyPair:
        """Issue a certificate; ``server`` and ``client`` select the extended key usages.

        Raises:
            ValueError: an entry of ``ip_addresses`` is not an IP address.
        """
        key = ec.generate_private_key(ec.SECP256R1())
        not_before, not_after = _validity()
        usages = [ExtendedKeyUsageOID.SERVER_AUTH] * server + [ExtendedKeyUsageOID.CLIENT_AUTH] * client
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name, organizations))
            .issuer_name(self._certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False)
        )
        alternative_names: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
        alternative_names += [x509.IPAddress(ipaddress.ip_address(address)) for address in ip_addresses]
        if alternative_names:
            builder = builder.add_extension(x509.SubjectAlternativeName(alternative_names), critical=False)
        certificate = builder.sign(self._key, hashes.SHA256())
        return KeyPair(certificate.public_bytes(serialization.Encoding.PEM), _private_key_pem(key))


def generate_signing_key_pem() -> bytes:
    """A fresh ECDSA P-256 private key in PEM, e.g. the API server's service-account signing key."""
    return _private_key_pem(ec.generate_private_key(ec.SECP256R1()))


def write_pem(path: Path, data: bytes, *, private: bool = False) -> Path:
    """Write PEM bytes to ``path`` (mode 0600 when ``private``) and return the path."""
    path.write_bytes(data)
    if private:
        path.chmod(0o600)
    return path
