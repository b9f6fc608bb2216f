"""HTTPS on the HTTP port: the server's TLS context from ``tls_cert`` and ``tls_key``."""

from __future__ import annotations

import ssl

from web.settings import Settings, SettingsError


def server_context(settings: Settings) -> ssl.SSLContext | None:
    """TLS 1.2 or later with the configured certificate, or None when TLS is off.

    Raises
    ------
    SettingsError
        When a file cannot be read, is not PEM, or the key does not match the certificate.
    """
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    for name, path in (("tls_cert", settings.tls_cert), ("tls_key", settings.tls_key)):
        try:
            path.read_bytes()
        except OSError as exc:
            raise SettingsError(f"{name}: cannot read {path}: {exc.strerror}") from None
    try:
        context.load_cert_chain(settings.tls_cert, settings.tls_key)
    except ssl.SSLError as exc:
        raise SettingsError(
            f"tls_cert/tls_key: {settings.tls_cert} and {settings.tls_key} are not a PEM "
            f"certificate and its private key ({exc.reason or exc})"
        ) from None
    return context
