"""The DNS probe: mail, DNS hosting, cloud and certificate footprint of the domains in scope.

Modules: `resolver` (bounded asynchronous client), `queries` (what is asked per domain and the
observations made of it), `spf` and `dmarc` (pure parsers), `probe` (the Probe class).
"""
