"""Which response headers and cookies the `http` probe records, and how (`http.header`,
`http.cookie`).

Only the headers listed here are recorded, as `name: value` with the name in lower case. Each is one
of two kinds:

- a *product* header names software, a service or its configuration (`server: nginx`,
  `x-powered-by: ASP.NET`, `x-generator: Drupal 10 (https://www.drupal.org)`, `via`, cache status):
  its value is kept, made printable and cut at `VALUE_MAX` characters;
- an *identifier* header carries a value that changes with every request or names one request or
  one cache node (`cf-ray: 8c1f2e3d4a5b6c7d-CDG`, `x-amz-cf-id`, `x-azure-ref`): only its presence
  is kept, as `cf-ray: present`, so the same site gives the same observation at every scan and no
  request identifier is ever stored.

`link` is kept only for WordPress's REST API entry (`rel="https://api.w.org/"`), the other links
(preloads of hashed file names) change with every deployment.

Cookies: only the name is recorded (`__cf_bm`, `PHPSESSID`), never the value or the attributes.
"""

from __future__ import annotations

import re
from enum import Enum

from probes.text import printable

VALUE_MAX = 200
"""Characters kept of a product header's value."""

NAME_MAX = 128
"""Longest cookie name recorded."""

PRESENT = "present"
"""The value recorded for an identifier header."""


class Kind(Enum):
    """How a header's value is recorded."""

    PRODUCT = "product"  # the value, printable and bounded
    IDENTIFIER = "identifier"  # only "present"


_P, _I = Kind.PRODUCT, Kind.IDENTIFIER

HEADERS: dict[str, Kind] = {
    # web servers, frameworks and generators
    "server": _P,
    "x-powered-by": _P,
    "powered-by": _P,  # Shopify
    "x-powered-by-plesk": _P,
    "x-aspnet-version": _P,
    "x-aspnetmvc-version": _P,
    "x-sourcefiles": _I,  # IIS debug: an encoded file path
    "microsoftsharepointteamservices": _P,
    "x-sharepointhealthscore": _I,
    "x-owa-version": _P,
    "x-feserver": _I,  # Exchange: the name of the front-end server that answered
    "x-generator": _P,
    "composed-by": _P,  # SPIP
    "x-spip-cache": _P,
    "x-content-encoded-by": _P,  # Joomla 1.x
    "x-redirect-by": _P,  # WordPress, Yoast…
    "x-pingback": _P,  # WordPress's xmlrpc.php
    "x-drupal-cache": _P,
    "x-drupal-dynamic-cache": _P,
    "x-typo3-parsetime": _I,
    "x-litespeed-cache": _P,
    "x-turbo-charged-by": _P,  # LiteSpeed
    "x-mod-pagespeed": _P,
    "x-page-speed": _P,
    "x-jenkins": _P,
    "kbn-name": _P,  # Kibana
    "x-arequestid": _I,  # Atlassian
    "x-confluence-request-time": _I,
    "x-wix-request-id": _I,
    "x-shopify-stage": _P,
    "x-shopid": _I,
    "x-oracle-dms-ecid": _I,
    "x-oracle-dms-rid": _I,
    # proxies, caches and CDNs
    "via": _P,
    "x-cache": _P,
    "x-cache-status": _P,
    "x-proxy-cache": _P,
    "x-served-by": _I,  # Fastly: cache node names, one per request path
    "x-cdn": _P,  # Imperva…
    "x-varnish": _I,  # Varnish: request ids
    "x-timer": _I,  # Fastly
    "x-fastly-request-id": _I,
    "cf-ray": _I,  # Cloudflare: request id and point of presence
    "cf-cache-status": _P,
    "cf-mitigated": _P,
    "x-amz-cf-pop": _P,  # CloudFront point of presence
    "x-amz-cf-id": _I,
    "x-amz-request-id": _I,
    "x-amz-id-2": _I,
    "x-amz-server-side-encryption": _P,
    "x-azure-ref": _I,  # Azure Front Door
    "x-msedge-ref": _I,
    "x-ms-request-id": _I,
    "x-akamai-transformed": _P,
    "akamai-grn": _I,
    "akamai-cache-status": _P,
    "x-akamai-request-id": _I,
    "x-iinfo": _I,  # Imperva Incapsula
    "x-sucuri-id": _I,
    "x-sucuri-cache": _P,
    "x-vercel-cache": _P,
    "x-vercel-id": _I,
    "x-nf-request-id": _I,  # Netlify
    "x-github-request-id": _I,
    "x-cloud-trace-context": _I,  # Google Cloud
    "x-guploader-uploadid": _I,
    "x-iplb-instance": _P,  # OVHcloud load balancer
    "x-iplb-request-id": _I,
    "x-datadome": _P,
    "x-datadome-cid": _I,
    "link": _P,  # WordPress's REST API entry only: see wordpress_link
}
"""Every header recorded: its lower-case name and kind."""

_API_W_ORG = re.compile(r'rel\s*=\s*"?https?://api\.w\.org/"?', re.IGNORECASE)
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def wordpress_link(value: str) -> str | None:
    """The entries of a `Link` header that point at WordPress's REST API, or None."""
    entries = [entry.strip() for entry in value.split(",")]
    kept = [entry for entry in entries if _API_W_ORG.search(entry)]
    return ", ".join(kept) if kept else None


def header_value(name: str, value: str) -> str | None:
    """The `http.header` value for one response header (`server: nginx`), or None when the
    header is not recorded."""
    lower = name.strip().lower()
    kind = HEADERS.get(lower)
    if kind is None:
        return None
    if kind is Kind.IDENTIFIER:
        return f"{lower}: {PRESENT}"
    if lower == "link":
        linked = wordpress_link(value[: VALUE_MAX * 20])
        if linked is None:
            return None
        value = linked
    text = printable(value, VALUE_MAX)
    return f"{lower}: {text}" if text else None


def cookie_name(set_cookie: str) -> str | None:
    """The name of the cookie a `Set-Cookie` header sets (never its value), or None when it sets
    none (no `=`, or a name that is not an HTTP token)."""
    pair = set_cookie.split(";", 1)[0]
    if "=" not in pair:
        return None
    name = pair.split("=", 1)[0].strip()
    if not name or len(name) > NAME_MAX or _TOKEN.match(name) is None:
        return None
    return name
