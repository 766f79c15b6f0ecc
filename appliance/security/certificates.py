"""The box's TLS certificate: one self-signed certificate made at first boot, used by the web UI's HTTPS port,
SIP over TLS and phone provisioning, until the admin installs their own."""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from pathlib import Path

BOX_CERT = Path("tls") / "box.crt"
BOX_KEY = Path("tls") / "box.key"


def box_certificate(data_dir: Path, common_name: str) -> tuple[Path, Path]:
    """The box's certificate and key under `data_dir`, made on first use."""
    cert, key = data_dir / BOX_CERT, data_dir / BOX_KEY
    ensure_certificate(cert, key, common_name)
    return cert, key


def ensure_certificate(cert: Path, key: Path, common_name: str) -> None:
    """Make a self-signed certificate and key (first boot) unless both files exist."""
    if cert.exists() and key.exists():
        return
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    pk = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    alt: list[x509.GeneralName] = [x509.DNSName(common_name), x509.DNSName("localhost")]
    try:
        alt.append(x509.IPAddress(ipaddress.ip_address(common_name)))
    except ValueError:
        alt.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(pk.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .sign(pk, hashes.SHA256())
    )
    key.parent.mkdir(parents=True, exist_ok=True)
    key_bytes = pk.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key_bytes)
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


