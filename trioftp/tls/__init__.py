"""TLS for FTPS: contexts, streams, and the self-signed certificate of ``trioftp --tls``.

* :mod:`.contexts` - building stdlib contexts from pyftpdlib-style settings,
  the data-session binding policy;
* :mod:`.streams` - putting TLS on a stream and taking it off (stdlib
  contexts through :mod:`.controlstream` and :mod:`.datastream`, both
  :mod:`.biostream` streams; pyOpenSSL ones through
  :class:`~.openssl_stream.OpenSSLStream`);
* :mod:`.eof` - strict end of file on data connections (``tls_strict_eof``);
* :mod:`.certificates` - the stored self-signed certificate.
"""

from .contexts import DataSessionBinding, InsecureProtocol

__all__ = ["DataSessionBinding", "InsecureProtocol"]
