"""The HTTP probe: what the scope's web sites run on, who hosts them, who signs their certificates.

Modules: `settings` (`HttpSettings`: trust store, bounds, timeouts), `headers` (which headers and
cookies are recorded, and how), `page` (the home page's title, generator and CMS markers, read with
the standard library's HTML parser), `fetch` (one site: resolution, TLS, redirects within the
scope, bounded reads), `probe` (the Probe class, and `scan_sites` for callers that pass extra
host names). docs/web.md describes what it reads and what it never does.
"""
