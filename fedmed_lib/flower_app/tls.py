"""Certificates for a Flower federation over TLS, made locally (no network, no openssl).

TLS (Rescorla, RFC 8446, 2018) lets a hospital's SuperNode check that it talks to the
real SuperLink and encrypts everything they exchange. The SuperLink presents a
*server certificate* (its public key and its names: here ``127.0.0.1`` and
``localhost``) signed by a *certificate authority* (CA); every SuperNode and the
``flwr`` command trust that CA's certificate (``--root-certificates``) and refuse a
server whose certificate it did not sign. In a real network the CA is the hospital
consortium's PKI; for a demonstration on one machine, :func:`write_certificates`
makes a throw-away CA and a server certificate with the ``cryptography`` package
(X.509, Cooper et al., RFC 5280, 2008). Introduced in :ref:`ch-flower`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fedmed_lib._validate import check_positive_int

DEFAULT_HOSTS: tuple[str, ...] = ("127.0.0.1", "localhost")
"""Names the demonstration SuperLink's certificate is valid for."""


@dataclass(frozen=True)
class TLSFiles:
    """The PEM files of a TLS federation. Introduced in :ref:`ch-flower`.

    Attributes
    ----------
    ca_cert
        The CA certificate: ``--ssl-ca-certfile`` of the SuperLink,
        ``--root-certificates`` of every SuperNode and ``root-certificates`` of the
        ``flwr`` connection.
    server_cert, server_key
        The SuperLink's certificate (signed by the CA) and private key
        (``--ssl-certfile``, ``--ssl-keyfile``); the key never leaves the SuperLink.
    """

    ca_cert: Path
    server_cert: Path
    server_key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "FedMed demonstration"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def _check_text(value: object, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return value


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def make_ca(
    common_name: str = "FedMed demo CA", *, days: int = 30
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """Make a self-signed certificate authority (an EC P-256 key and its certificate).

    Introduced in :ref:`ch-flower`.

    Raises
    ------
    ValueError
        If ``common_name`` is empty or ``days`` is not a positive integer.
    """
    _check_text(common_name, "common_name")
    days = check_positive_int(days, name="days")
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                          content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False,
                          encipher_only=False, decipher_only=False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def make_server_certificate(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    *,
    hosts: Sequence[str] = DEFAULT_HOSTS,
    days: int = 30,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """Make a server key and a certificate for ``hosts``, signed by the CA.

    The host names go into the Subject Alternative Name extension, which is what a
    TLS client compares with the address it dialled. Introduced in :ref:`ch-flower`.

    Raises
    ------
    ValueError
        If ``hosts`` is empty or holds an empty name, or ``days`` is not positive.
    """
    if isinstance(hosts, str) or not isinstance(hosts, Sequence) or len(hosts) == 0:
        raise ValueError(f"hosts must be a non-empty list of host names, got {hosts!r}")
    for i, host in enumerate(hosts):
        _check_text(host, f"hosts[{i}]")
    days = check_positive_int(days, name="days")
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(hosts[0]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([_san(h) for h in hosts]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                       critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def _write(path: Path, data: bytes, *, private: bool = False) -> Path:
    path.write_bytes(data)
    if private:
        os.chmod(path, 0o600)  # a private key is readable by its owner only
    return path


def write_certificates(
    folder: str | Path,
    *,
    hosts: Sequence[str] = DEFAULT_HOSTS,
    ca_name: str = "FedMed demo CA",
    days: int = 30,
) -> TLSFiles:
    """Make a CA and a server certificate for ``hosts`` and write them as PEM files.

    Writes ``ca.pem``, ``server.pem`` and ``server.key`` (mode 600) into ``folder``
    (created if needed). The CA's private key is not written: nothing else can be
    signed with it afterwards. Introduced in :ref:`ch-flower`.

    Raises
    ------
    ValueError
        If ``hosts``, ``ca_name`` or ``days`` is invalid.
    """
    folder = Path(folder)
    ca_key, ca_cert = make_ca(ca_name, days=days)
    key, cert = make_server_certificate(ca_key, ca_cert, hosts=hosts, days=days)
    folder.mkdir(parents=True, exist_ok=True)
    pem = serialization.Encoding.PEM
    return TLSFiles(
        ca_cert=_write(folder / "ca.pem", ca_cert.public_bytes(pem)),
        server_cert=_write(folder / "server.pem", cert.public_bytes(pem)),
        server_key=_write(
            folder / "server.key",
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()),
            private=True,
        ),
    )


def write_ca_certificate(folder: str | Path, *, ca_name: str = "Some other CA") -> Path:
    """Write only the certificate of a fresh, unrelated CA (``other-ca.pem``).

    A SuperNode that trusts this CA instead of the federation's must refuse the
    SuperLink. Introduced in :ref:`ch-flower`.
    """
    folder = Path(folder)
    _, cert = make_ca(ca_name)
    folder.mkdir(parents=True, exist_ok=True)
    return _write(folder / "other-ca.pem", cert.public_bytes(serialization.Encoding.PEM))


def is_signed_by(cert_path: str | Path, ca_path: str | Path) -> bool:
    """Return whether the certificate in ``cert_path`` carries a valid signature of the CA.

    Checks the signature and that the issuer is the CA's subject, as a TLS client
    does for a one-level chain. Introduced in :ref:`ch-flower`.
    """
    cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    ca = x509.load_pem_x509_certificate(Path(ca_path).read_bytes())
    if cert.issuer != ca.subject:
        return False
    try:
        cert.verify_directly_issued_by(ca)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def certificate_hosts(cert_path: str | Path) -> list[str]:
    """Return the host names and addresses a certificate is valid for (its SAN entries).

    Introduced in :ref:`ch-flower`.
    """
    cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [str(v) for v in san.get_values_for_type(x509.IPAddress)] + list(
        san.get_values_for_type(x509.DNSName)
    )


def write_supernode_keys(folder: str | Path, name: str) -> tuple[Path, Path]:
    """Make a SuperNode's authentication key pair: ``<name>.key`` (private), ``<name>.pub``.

    An EC P-384 key in OpenSSH format, what Flower's SuperNode authentication reads:
    the SuperLink's operator registers the public key (``flwr supernode register
    <name>.pub``) and the SuperNode signs its requests with the private key
    (``--auth-supernode-private-key``). Introduced in :ref:`ch-flower`.

    Raises
    ------
    ValueError
        If ``name`` is empty.
    """
    _check_text(name, "name")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP384R1())
    private = _write(
        folder / f"{name}.key",
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                          serialization.NoEncryption()),
        private=True,
    )
    public = _write(
        folder / f"{name}.pub",
        key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                      serialization.PublicFormat.OpenSSH),
    )
    return private, public
