"""The install folder of an executable: the one name of its path the processes probe keeps.

A process's `folder` attribute is the folder right under a system-wide install root its
executable lives in (`C:\\Program Files\\Sophos\\…` gives `Sophos`); a vendor's `[vendor] folders`
in the catalog are compared with it. Shared by the probe that reads paths, the catalog that
declares folders and the tools that replay recorded paths.
"""

from __future__ import annotations

import re
from typing import Final

SHARED_FOLDERS: Final = frozenset(
    {
        "bin", "sbin", "lib", "lib64", "libexec", "share", "include", "etc", "src", "man",
        "games", "var", "common files", "windowsapps", "modifiablewindowsapps", "package cache",
        "packages", "installer", "temp", "tmp",
    }
)  # fmt: skip
"""Folders under an install root that many vendors share or the system owns (lower case): never a
process's `folder` attribute, never a vendor's declared folder."""


# The folder right under a system-wide install root: Windows' Program Files (both), ProgramData;
# /opt and /usr/local on Linux; /Library/Application Support on macOS. User profiles are never
# roots: their paths carry user names.
_WINDOWS_ROOT = re.compile(
    r"(?:\\\\\?\\)?[a-z]:\\(?:program files(?: \(x86\))?|programdata)\\([^\\]+)\\", re.IGNORECASE
)
_POSIX_ROOT = re.compile(r"/(?:opt|usr/local|Library/Application Support)/([^/]+)/")
FOLDER_MAX: Final = 100


def install_folder(executable: str) -> str | None:
    """The vendor folder an executable is installed in, or None: `Sophos` for
    `C:\\Program Files\\Sophos\\Endpoint Defense\\SEDService.exe`, `CrowdStrike` for
    `/opt/CrowdStrike/falcond`; None for a shared folder (`/usr/local/bin`, `Common Files`), a
    user's profile, or an executable right under the root."""
    executable = executable.removesuffix(" (deleted)")
    found = _WINDOWS_ROOT.match(executable) or _POSIX_ROOT.match(executable)
    if found is None:
        return None
    folder = found[1].strip()
    if not folder or len(folder) > FOLDER_MAX or folder.lower() in SHARED_FOLDERS:
        return None
    if not folder.isprintable():
        return None
    return folder
