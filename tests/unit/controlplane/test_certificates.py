"""The loopback certificate authority."""

from __future__ import annotations

import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from memories.controlplane.certificates import CertificateAuthority


def test_issued_certificate_is_signed_by_the_authority() -> None:
    authority = CertificateAuthority()
    issued = x509.load_pem_x509_certificate(authority.issue("server", dns_names=("localhost",)).certificate_pem)
    ca = x509.load_pem_x509_certificate(authority.certificate_pem)
    issued.verify_directly_issued_by(ca)


def test_server_certificate_names_its_addresses() -> None:
    pair = CertificateAuthority().issue("api", dns_names=("localhost",), ip_addresses=("127.0.0.1",))
    names = (
        x509.load_pem_x509_certificate(pair.certificate_pem)
        .extensions.get_extension_for_class(x509.SubjectAlternativeName)
        .value
    )
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]


def test_client_certificate_carries_groups_and_client_usage() -> None:
    pair = CertificateAuthority().issue("admin", organizations=("system:masters",), server=False, client=True)
    certificate = x509.load_pem_x509_certificate(pair.certificate_pem)
    organizations = certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert [attribute.value for attribute in organizations] == ["system:masters"]
    assert list(usages) == [ExtendedKeyUsageOID.CLIENT_AUTH]


def test_private_key_matches_the_certificate() -> None:
    pair = CertificateAuthority().issue("server")
    key = load_pem_private_key(pair.private_key_pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert key.public_key() == x509.load_pem_x509_certificate(pair.certificate_pem).public_key()
