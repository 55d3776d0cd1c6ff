"""What the `http` probe reads in a home page: title, generator, well-known CMS paths and hosts.

The page is read with the standard library's HTML parser (`html.parser`), after one linear pass
that turns every `<` not closed by a `>` before the next `<` (or more than `TAG_MAX` characters
later) into `&lt;`. Python 3.11's parser needs time quadratic in the length of such runs
(`<a<a<a…` or `</</…`: 40 KB took 1.8 s, so two megabytes would take over an hour) and gives up on
some (`<![x>` raises AssertionError). After that pass a 2 MB page of the worst kinds tried is
parsed in about 3 s, and an ordinary page in milliseconds. A tag longer than `TAG_MAX` or with a
`<` inside an attribute value is read as text, which costs nothing that matters here.

Markers (`http.path`): a CMS path (`/wp-content/`…) counts in the URL of a resource (script,
style sheet, image…) on any host, and in any link to the page's own host or another host of the
scope (a link to somebody else's WordPress blog is not the site's CMS); a site builder's host
(`static.wixstatic.com`…) counts anywhere.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit, urlunsplit

from probes.text import printable

TAG_MAX = 8192
"""Longest tag (from `<` to `>`) read as a tag."""

TITLE_MAX = 256
GENERATOR_MAX = 200
URL_MAX = 2048
"""Characters of one attribute value looked at as a URL."""
GENERATORS_MAX = 10

PATH_MARKERS: tuple[str, ...] = (
    "/wp-content/",  # WordPress
    "/wp-includes/",
    "/sites/default/files/",  # Drupal
    "/sites/all/",  # Drupal 7
    "/core/misc/",  # Drupal 8 and later
    "/misc/drupal.js",  # Drupal 7
    "/media/jui/",  # Joomla 3
    "/media/system/js/",  # Joomla
    "/components/com_",  # Joomla
    "/typo3conf/",  # TYPO3
    "/typo3temp/",
    "/squelettes/",  # SPIP
    "/squelettes-dist/",
    "/plugins-dist/",
    "/spip.php",
)
"""Paths a CMS puts in the URLs of its pages' resources; the value recorded is the marker."""

HOST_MARKERS: tuple[str, ...] = (
    "static.wixstatic.com",  # Wix
    "static.parastorage.com",
    "assets.squarespace.com",  # Squarespace
    "static1.squarespace.com",
    "images.squarespace-cdn.com",
    "website-files.com",  # Webflow (cdn.prod.website-files.com…)
    "uploads-ssl.webflow.com",
    "cdn.shopify.com",  # Shopify
    "wp.com",  # WordPress.com, Jetpack (s0.wp.com, i0.wp.com…)
    "wsimg.com",  # GoDaddy's site builder
    "jimcdn.com",  # Jimdo
)
"""Hosts of site builders and hosted CMS; a URL on the host or below it records the marker."""

RESOURCE_TAGS = frozenset(
    {"script", "link", "img", "source", "iframe", "video", "audio", "embed", "object", "input"}
)
URL_ATTRIBUTES = frozenset({"href", "src", "srcset", "data-src", "data-srcset", "action", "poster"})

_UNCLOSED = re.compile(r"<(?![^<>]{0," + str(TAG_MAX) + r"}>)")
_META_CHARSET = re.compile(
    rb"""<meta[^>]{0,512}?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]{1,40})""", re.I
)


def defuse(text: str) -> str:
    """`text` with every `<` that does not open a tag closed before the next `<` (within
    TAG_MAX characters) written `&lt;`: linear, and keeps html.parser linear too."""
    return _UNCLOSED.sub("&lt;", text)


def charset_of(content_type: str | None, body: bytes) -> str:
    """The page's text encoding: the Content-Type's charset, a byte order mark, a `<meta>`
    charset in the first 4 KB, else UTF-8; only encodings Python knows as text encodings."""
    candidates: list[str] = []
    if content_type:
        match = re.search(r"charset\s*=\s*[\"']?([A-Za-z0-9._:-]{1,40})", content_type, re.I)
        if match:
            candidates.append(match.group(1))
    if body.startswith(codecs.BOM_UTF8):
        candidates.insert(0, "utf-8-sig")
    elif body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates.insert(0, "utf-16")
    meta = _META_CHARSET.search(body[:4096])
    if meta:
        candidates.append(meta.group(1).decode("ascii"))
    for name in candidates:
        try:
            b"a".decode(name, "replace")  # LookupError: unknown, or not a text encoding (hex…)
        except LookupError:
            continue
        return codecs.lookup(name).name
    return "utf-8"


def refresh_url(content: str) -> str | None:
    """The URL of a refresh's content (`5; url=/accueil/`), or None (a plain reload)."""
    rest = content.strip().lstrip("0123456789.").lstrip()
    if rest[:1] in (";", ","):
        rest = rest[1:].lstrip()
    if rest[:3].lower() != "url":
        return None
    rest = rest[3:].lstrip()
    if rest[:1] != "=":
        return None
    url = rest[1:].strip().strip("'\"").strip()
    return url or None


def strip_query(url: str) -> str:
    """`url` without its query and fragment (they may carry session or tracking identifiers)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url.split("?", 1)[0].split("#", 1)[0]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


@dataclass(slots=True)
class PageFacts:
    """What one page says about the software behind it."""

    title: str | None = None
    generators: list[str] = field(default_factory=list)
    markers: dict[str, str] = field(default_factory=dict)  # marker -> first URL showing it
    refresh: str | None = None  # the URL of a <meta http-equiv="refresh">, as written
    complete: bool = True  # False: the parser gave up part-way (what it read is kept)


def _host_marker(host: str) -> str | None:
    for marker in HOST_MARKERS:
        if host == marker or host.endswith("." + marker):
            return marker
    return None


class _Reader(HTMLParser):
    def __init__(self, base: str, in_scope: Callable[[str], bool]) -> None:
        super().__init__(convert_charrefs=True)
        self.base = base
        self.in_scope = in_scope
        self.facts = PageFacts()
        self._title: list[str] | None = None  # collecting the first title's text
        self._title_seen = False
        self._title_chars = 0
        self._svg = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "svg":
            self._svg += 1
        elif tag == "title" and not self._title_seen and not self._svg:
            self._title_seen = True
            self._title = []
        values = {name: value for name, value in attrs if value is not None}
        if tag == "meta":
            self._meta(values)
        for name, value in values.items():
            if name in URL_ATTRIBUTES:
                if name.endswith("srcset"):
                    for candidate in value[:URL_MAX].split(","):
                        self._url(tag, candidate.strip().split(" ", 1)[0])
                else:
                    self._url(tag, value)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag == "svg":
            self._svg = max(0, self._svg - 1)
        elif tag == "title" and self._title is not None:
            self._end_title()

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self._svg = max(0, self._svg - 1)
        elif tag == "title" and self._title is not None:
            self._end_title()

    def handle_data(self, data: str) -> None:
        if self._title is not None and self._title_chars < TITLE_MAX * 4:
            self._title.append(data[: TITLE_MAX * 4])
            self._title_chars += len(data)

    def close_title(self) -> None:
        """A title never closed keeps what it collected."""
        if self._title is not None:
            self._end_title()

    def _end_title(self) -> None:
        assert self._title is not None
        self.facts.title = printable("".join(self._title), TITLE_MAX)
        self._title = None

    def _meta(self, values: dict[str, str]) -> None:
        if values.get("name", "").strip().lower() == "generator":
            text = printable(values.get("content"), GENERATOR_MAX)
            if (
                text
                and text not in self.facts.generators
                and len(self.facts.generators) < GENERATORS_MAX
            ):
                self.facts.generators.append(text)
        content = values.get("content", "").strip()
        if values.get("http-equiv", "").strip().lower() == "refresh" and self.facts.refresh is None:
            self.facts.refresh = refresh_url(content[:URL_MAX]) or ""
        if content.startswith(("http://", "https://", "/")):
            self._url("meta", content)

    def _url(self, tag: str, raw: str) -> None:
        raw = raw.strip()[:URL_MAX]
        if not raw or raw.startswith(("data:", "javascript:", "mailto:", "tel:", "#")):
            return
        try:
            parts = urlsplit(urljoin(self.base, raw))
        except ValueError:
            return
        if parts.scheme not in ("http", "https"):
            return
        host = (parts.hostname or "").rstrip(".")
        marker = _host_marker(host)
        if marker is not None:
            self._mark(marker, parts.scheme, parts.netloc, parts.path)
        if tag not in RESOURCE_TAGS and not self.in_scope(host):
            return
        path = parts.path.lower()
        for marker in PATH_MARKERS:
            if marker in path:
                self._mark(marker, parts.scheme, parts.netloc, parts.path)

    def _mark(self, marker: str, scheme: str, netloc: str, path: str) -> None:
        if marker not in self.facts.markers:
            example = urlunsplit((scheme, netloc, path, "", ""))
            self.facts.markers[marker] = printable(example, 200) or marker


def read_page(text: str, base: str, in_scope: Callable[[str], bool]) -> PageFacts:
    """Title, generators and markers of the HTML `text` fetched from URL `base`; `in_scope(host)`
    says whether a link's host belongs to the scope."""
    reader = _Reader(base, in_scope)
    try:
        reader.feed(defuse(text))
        reader.close()
    except AssertionError:
        # Python 3.11's _markupbase raises AssertionError on some malformed declarations
        # ("<![x>"): the page's end is not read, what came before is kept.
        reader.facts.complete = False
    reader.close_title()
    return reader.facts
