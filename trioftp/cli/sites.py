"""Options for virtual hosts (docs/virtual-hosts.md)."""

from __future__ import annotations

import argparse

from ..sitesfile import SitesFileError, load_sites


def add_site_options(parser: argparse.ArgumentParser) -> None:
    """The virtual-host options (docs/virtual-hosts.md)."""
    sites = parser.add_argument_group("virtual hosts (RFC 7151 HOST, TLS SNI)")
    sites.add_argument(
        "--sites",
        metavar="FILE",
        help="a TOML file of sites, each with its names, directory, user and "
        "certificate; clients choose one with HOST or by TLS server name (SNI)",
    )
    sites.add_argument(
        "--tls-strict-sni",
        action="store_true",
        help="refuse TLS handshakes that name no site (implies --tls)",
    )


def apply_site_options(parser: argparse.ArgumentParser, options: argparse.Namespace) -> None:
    """Read --sites into ``options.site_table``; site certificates and strict SNI imply --tls."""
    options.site_table = None
    if options.sites is not None:
        try:
            options.site_table = load_sites(options.sites)
        except SitesFileError as exc:
            parser.error(str(exc))
    has_certificates = options.site_table is not None and any(
        site.certfile is not None for site in options.site_table
    )
    options.tls = options.tls or options.tls_strict_sni or has_certificates
