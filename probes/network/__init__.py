"""The network probe: services answering in the declared networks, identified by nmap.

Modules: `ports` (the default port lists and why), `probe` (nmap's arguments, its XML read as it
comes, observations per network). The targets come from `probes.scope`.
"""
