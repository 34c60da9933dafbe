"""Throw-away certificates for the TLS integration tests, made with `cryptography`.

    write_tls_dir(path)  ->  ca.pem, server.pem, server.key, client.pem, client.key in `path`
    write_ca(path, name) ->  an unrelated CA (ca.pem, ca.key) and a client certificate it signed
                             (client.pem, client.key), to show a wrong CA or client is refused

EC P-256 keys (fast to generate), valid from an hour ago for two days, nothing reused between runs.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SERVER_DNS = ("localhost",)
SERVER_IPS = ("127.0.0.1",)


@dataclass
class Issuer:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "vectorops-milvus tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _builder(
    subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey
) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
    )


def _write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey, stem: str) -> None:
    (path / f"{stem}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file = path / f"{stem}.key"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_file.chmod(0o600)


def make_ca(common_name: str) -> Issuer:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        _builder(_name(common_name), _name(common_name), key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issuer(cert, key)


def issue(
    ca: Issuer,
    common_name: str,
    *,
    server: bool,
    dns: tuple[str, ...] = (),
    ips: tuple[str, ...] = (),
) -> Issuer:
    """A leaf certificate signed by `ca`: serverAuth with the given SANs, or clientAuth."""
    key = ec.generate_private_key(ec.SECP256R1())
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        _builder(_name(common_name), ca.cert.subject, key)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
    )
    names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return Issuer(builder.sign(ca.key, hashes.SHA256()), key)


def write_ca(path: Path, common_name: str = "unrelated test CA") -> Path:
    """A CA of its own and a client certificate it signed in `path`; the path of its ca.pem."""
    path.mkdir(parents=True, exist_ok=True)
    ca = make_ca(common_name)
    _write(path, ca.cert, ca.key, "ca")
    client = issue(ca, "client of an unrelated CA", server=False)
    _write(path, client.cert, client.key, "client")
    return path / "ca.pem"


def write_tls_dir(path: Path) -> Path:
    """CA, server (SAN DNS:localhost, IP:127.0.0.1) and client certificates in `path`."""
    path.mkdir(parents=True, exist_ok=True)
    ca = make_ca("vectorops-milvus test CA")
    _write(path, ca.cert, ca.key, "ca")
    server = issue(ca, "milvus test server", server=True, dns=SERVER_DNS, ips=SERVER_IPS)
    _write(path, server.cert, server.key, "server")
    client = issue(ca, "milvus test client", server=False)
    _write(path, client.cert, client.key, "client")
    return path
