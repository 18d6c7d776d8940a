"""The rehearsal cluster's certificates: one CA, one serving certificate for every loopback
component, one admin client certificate (``system:masters``) for kubectl, Helm and the
controllers, and the service-account signing key.

kwokctl's binary runtime does the same with one CA and one certificate; the components need TLS
(the API server's secure port, the aggregation layer's front proxy) but nothing here is exposed
beyond 127.0.0.1, so the keys are short-lived files in the cluster's state folder.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Pki:
    """Paths of the PEM files under ``<state>/pki``."""
    folder: Path

    @property
    def ca_cert(self) -> Path:
        return self.folder / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.folder / "ca.key"

    @property
    def serving_cert(self) -> Path:
        return self.folder / "serving.crt"

    @property
    def serving_key(self) -> Path:
        return self.folder / "serving.key"

    @property
    def admin_cert(self) -> Path:
        return self.folder / "admin.crt"

    @property
    def admin_key(self) -> Path:
        return self.folder / "admin.key"

    @property
    def front_proxy_cert(self) -> Path:
        return self.folder / "front-proxy.crt"

    @property
    def front_proxy_key(self) -> Path:
        return self.folder / "front-proxy.key"

    @property
    def service_account_key(self) -> Path:
        return self.folder / "sa.key"

    def exists(self) -> bool:
        return all(p.is_file() for p in (self.ca_cert, self.serving_cert, self.admin_cert,
                                          self.front_proxy_cert, self.service_account_key))


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def write_key(key: rsa.RSAPrivateKey, path: Path) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


def sign(subject: x509.Name, key, ca_name: x509.Name, ca_key, *, ca: bool = False,
          usages: tuple = (), sans: list | None = None) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=365))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False,
            encipher_only=False, decipher_only=False), critical=True)
    if usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def write_cert(cert: x509.Certificate, path: Path) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def create(folder: Path) -> Pki:
    """Write a fresh CA and the certificates signed by it (idempotent: kept when all exist)."""
    pki = Pki(folder)
    if pki.exists():
        return pki
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = new_key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tritonctl-rehearsal-ca")])
    write_cert(sign(ca_name, ca_key, ca_name, ca_key, ca=True), pki.ca_cert)
    write_key(ca_key, pki.ca_key)

    loopback = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                x509.DNSName("kubernetes"), x509.DNSName("kubernetes.default"),
                x509.DNSName("kubernetes.default.svc"), x509.IPAddress(ipaddress.ip_address("10.96.0.1"))]
    leaves = [
        (pki.serving_cert, pki.serving_key, [x509.NameAttribute(NameOID.COMMON_NAME, "localhost")],
         (ExtendedKeyUsageOID.SERVER_AUTH,), loopback),
        (pki.admin_cert, pki.admin_key, [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters"),
                                         x509.NameAttribute(NameOID.COMMON_NAME, "admin")],
         (ExtendedKeyUsageOID.CLIENT_AUTH,), None),
        # the aggregation layer's client identity towards extension API servers (adapter, KEDA)
        (pki.front_proxy_cert, pki.front_proxy_key, [x509.NameAttribute(NameOID.COMMON_NAME, "front-proxy-client")],
         (ExtendedKeyUsageOID.CLIENT_AUTH,), None),
    ]
    for cert_path, key_path, name, usages, sans in leaves:
        key = new_key()
        write_cert(sign(x509.Name(name), key, ca_name, ca_key, usages=usages, sans=sans), cert_path)
        write_key(key, key_path)
    write_key(new_key(), pki.service_account_key)
    return pki
