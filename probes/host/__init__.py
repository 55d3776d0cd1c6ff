"""Host probes: installed software and OS (`host`), running processes, services and connections
(`processes`).

One module per package source (dpkg, rpm, apk, flatpak, snap, Windows, macOS): each has a cheap
gate, a `collect` that is the only code touching the system, and pure `parse_*` functions that the
tests feed with captured files. Importing this package has no side effect.
"""
