"""The class's join bundle: one PEM file whose holder may join the class's Dask cluster.

A Dask scheduler with default settings lets anyone who can reach its port run
any code on every worker. ``pdsgd cluster serve`` therefore listens with TLS and
mutual authentication as soon as it listens on anything but loopback: every
party (scheduler, workers, clients) shows a certificate signed by the class's
own authority, and checks the other side's.

The bundle is that authority's certificate and one key and certificate that
every party uses (as :meth:`distributed.security.Security.temporary` does in
memory), in one file, so that a teacher hands out one file. Holding it grants
everything: joining as a worker, and connecting as a client, which means
running any code on every worker of the class. Hand it only to the class, and
make a new one (a new ``--bundle`` path) for the next.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path

from pdsgd.errors import PdsgdError

#: Days a bundle stays valid: a term.
VALID_DAYS = 180
#: Where ``pdsgd cluster serve`` writes the bundle unless told.
DEFAULT_BUNDLE = "pdsgd-class.pem"


def make_bundle(path):
    """Write a new bundle (a self-signed certificate and its key) to ``path``, mode 0600.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    Path
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pdsgd class")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
            # The class's authority signs itself: a CA certificate, as OpenSSL wants one.
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    path = Path(path)
    # Written whole and private, or not at all: the key is the class's only secret.
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    os.replace(partial, path)
    return path


def security(bundle):
    """The :class:`distributed.security.Security` of every party holding ``bundle``.

    Parameters
    ----------
    bundle : str or Path
        A file written by :func:`make_bundle`.

    Raises
    ------
    PdsgdError
        If the file is missing or is not a bundle (one line, how to get one).
    """
    from distributed.security import Security

    path = Path(bundle)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise PdsgdError(f"--bundle {bundle}: cannot read it ({error.__class__.__name__}); "
                         "ask the teacher for the class's bundle (`pdsgd cluster serve` "
                         "writes it)") from None
    if "BEGIN CERTIFICATE" not in text or "PRIVATE KEY" not in text:
        raise PdsgdError(f"--bundle {bundle}: not a join bundle (no certificate and key in "
                         "it); ask the teacher for the file `pdsgd cluster serve` wrote")
    name = str(path.resolve())
    roles = {f"tls_{role}_{part}": name for role in ("scheduler", "worker", "client")
             for part in ("cert", "key")}
    return Security(require_encryption=True, tls_ca_file=name, **roles)


def is_loopback(host):
    """True for an address only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def for_address(address, bundle):
    """The ``Security`` for reaching ``address`` with ``bundle`` (None: none needed).

    A ``tls://`` address without a bundle is refused here, in one line, before
    any connection is tried; a bundle with a plain ``tcp://`` address is a
    mistake too (the bundle would not be used).
    """
    scheme = address.partition("://")[0] if "://" in address else "tcp"
    if scheme == "tls" and bundle is None:
        raise PdsgdError(f"{address} is a class cluster secured with TLS: pass the class's "
                         "join bundle with --bundle FILE (the teacher hands it out)")
    if bundle is not None and scheme != "tls":
        raise PdsgdError(f"--bundle is for a tls:// scheduler, and {address} is not one; "
                         "use the address `pdsgd cluster serve` printed")
    return None if bundle is None else security(bundle)
