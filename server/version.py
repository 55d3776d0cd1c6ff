"""The installed version of tiebreak, as the server reports it."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tiebreak")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
