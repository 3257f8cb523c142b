"""A private certificate authority's bundle, carried as text to a machine that lacks its file.

A profile's ``ca_bundle`` names a PEM file on this computer. A training host
has no such file, so a run started there carries the bundle's certificates in
its start request, and the host writes them into the run's folder for the
worker. Only the certificate blocks travel: a private key kept in the same file
(a combined PEM) stays on this computer. A CA certificate is public, but what
comes from another machine is checked all the same: each block must load as an
X.509 certificate, and the whole is bounded.
"""

from __future__ import annotations

import re
import ssl
from pathlib import Path

from datayard.core.errors import ConfigError
from datayard.core.settings import Profile
from datayard.core.units import size

MAX_CHARS = 1 << 20
"""Four times the public CAs of certifi: room for any private CA's chain."""

_CERTIFICATE = re.compile(
    r"-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+?-----END CERTIFICATE-----"
)


class BundleError(ValueError):
    """Text that is not a CA bundle; the message, a predicate ("holds no ..."), says why
    without quoting it."""


def certificates(text: str) -> str:
    """The certificate blocks of ``text``, each checked to load as X.509, one after the
    other; else :class:`BundleError`."""
    if len(text) > MAX_CHARS:
        raise BundleError(f"is larger than {size(MAX_CHARS)}")
    blocks = _CERTIFICATE.findall(text)
    if not blocks:
        raise BundleError("holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
    checker = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    for index, block in enumerate(blocks, 1):
        try:
            checker.load_verify_locations(cadata=block)
        except ssl.SSLError:
            raise BundleError(
                f"has a certificate block that is not an X.509 certificate (block {index})"
            ) from None
    return "".join(f"{block}\n" for block in blocks)


def read(profile: Profile) -> str:
    """The certificates of the profile's bundle file, for a machine that lacks the file;
    :class:`ConfigError` naming the profile and the file when they cannot be had."""
    path = Path(profile.ca_bundle).expanduser()
    where = f"profile {profile.name!r}: its CA bundle {path}"
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError as error:
        raise ConfigError(f"{where} cannot be read ({error.strerror or error})") from error
    try:
        return certificates(text)
    except BundleError as problem:
        raise ConfigError(
            f"{where} {problem}: name the PEM file of the authority that signs the store's "
            "certificate"
        ) from None
