"""The `fleet` probe: the workstations other tools already inventory, counted, under pseudonyms.

It reads the folders of inventory files of `[fleet] folders` (`probes.fleet.folder`), then the
GLPI server of `[fleet] glpi_url` (`probes.fleet.glpi`), and emits, at the fleet's locus
(`[fleet] name`), the aggregated observations of `probes.fleet.fleet`: one per OS release and
per program with how many machines have it, one per machine under its pseudonym, and one
`fleet.source` per source with the machines it added (the fleet's size: "212 of 240").

Nothing already read is lost: a file that cannot be used is a note naming it, a GLPI that fails
ends its reading with a note, and reading stops in time to emit before the probe's deadline,
saying so. The run fails only when no machine at all could be read, with every reason.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import ClassVar

from pydantic import JsonValue

from inventory.channels import Channel
from probes.base import Emitter, Probe, ProbeContext
from probes.fleet.fleet import Fleet, SourceTally
from probes.fleet.folder import inventory_files, read_file
from probes.fleet.glpi import GlpiClient, GlpiError, read_glpi
from probes.fleet.settings import FleetSettings

NOTED_FILES = 50
"""Unusable files named one by one; beyond, one note counts the others."""


class FleetProbe(Probe):
    """Reads fleet inventories (files, GLPI) as counted, pseudonymised observations."""

    name: ClassVar[str] = "fleet"
    tags: ClassVar[frozenset[str]] = frozenset({"fleet"})
    channels: ClassVar[frozenset[Channel]] = frozenset(
        {
            Channel.OS,
            Channel.PACKAGE,
            Channel.PACKAGE_WINDOWS,
            Channel.FLEET_SOURCE,
            Channel.FLEET_MACHINE,
            Channel.FLEET_HARDWARE,
            Channel.FLEET_VIRTUALISATION,
        }
    )
    summary: ClassVar[str] = (
        "Parc de postes (GLPI, FusionInventory, GLPI Agent, OCS) / "
        "Workstation fleet (GLPI, FusionInventory, GLPI Agent, OCS)"
    )
    default_timeout: ClassVar[float] = 900.0

    def unavailable(self, ctx: ProbeContext) -> str | None:
        """Runs only when `[fleet]` names a folder or a GLPI server."""
        settings = ctx.fleet
        if settings is None or not (settings.folders or settings.glpi_url):
            return (
                "pas de section [fleet] (dossiers d'inventaires ou serveur GLPI) / no [fleet] "
                "section (inventory folders or GLPI server)"
            )
        return None

    def run(self, ctx: ProbeContext, out: Emitter) -> None:
        """Read every source, then emit what was read; raise when nothing could be read."""
        settings = ctx.fleet
        assert settings is not None
        if settings.setup_error:
            raise RuntimeError(settings.setup_error)
        fleet = Fleet(settings.pseudonym_key, settings.max_machines)
        errors: list[str] = []
        sources: list[tuple[str, dict[str, JsonValue]]] = []
        for folder in settings.folders:
            sources.append(self._folder(folder, settings, fleet, out, errors))
        if settings.glpi_url:
            sources.append(self._glpi(settings, fleet, out, errors))
        if fleet.full:
            out.note(
                f"{settings.max_machines} machines lues, les autres ignorées ([fleet] "
                f"max_machines) / {settings.max_machines} machines read, the others skipped"
            )
        fleet.emit(out, settings.locus)
        for value, attributes in sources:
            out.observe(Channel.FLEET_SOURCE, settings.locus, value, attributes)
        if not len(fleet):
            reasons = errors or [
                f"{value}: {attributes.get('files', 0)} fichier(s), aucun inventaire utilisable / "
                f"{attributes.get('files', 0)} file(s), no usable inventory"
                for value, attributes in sources
            ]
            raise RuntimeError("aucune machine lue / no machine read: " + " ; ".join(reasons))
        for error in errors:
            out.note(error)

    @staticmethod
    def _in_time(out: Emitter, fleet: Fleet) -> bool:
        """Whether there is time left to read more and still emit before the deadline."""
        remaining = out.remaining()
        return remaining is None or remaining > 5.0 + len(fleet) * 0.0005

    def _folder(
        self,
        folder: Path,
        settings: FleetSettings,
        fleet: Fleet,
        out: Emitter,
        errors: list[str],
    ) -> tuple[str, dict[str, JsonValue]]:
        tally = SourceTally()
        files = unusable = replaced = 0
        try:
            paths = inventory_files(folder)
        except OSError as exc:
            errors.append(
                f"{folder}: dossier illisible / unreadable folder ({exc.strerror or exc})"
            )
            paths = []
        for path in paths:
            if fleet.full:
                break
            if not self._in_time(out, fleet):
                out.note(
                    f"{folder}: lecture arrêtée pour tenir le délai de la sonde, "
                    f"{len(paths) - files} fichier(s) non lu(s) / reading stopped to meet the "
                    f"probe's deadline, {len(paths) - files} file(s) not read"
                )
                break
            files += 1
            machine, problem, cleaned = read_file(path, settings.max_file_bytes)
            if problem is not None:
                unusable += 1
                if unusable <= NOTED_FILES:
                    out.note(f"{problem.path}: {problem.reason}")
                continue
            assert machine is not None
            if cleaned:
                replaced += 1
                out.note(
                    f"{path}: encodage invalide, caractères remplacés / invalid encoding, "
                    "characters replaced"
                )
            fleet.add(machine, tally, f"file:{path.resolve()}")
        if unusable > NOTED_FILES:
            out.note(
                f"{folder}: {unusable - NOTED_FILES} autre(s) fichier(s) inutilisable(s) / "
                f"{unusable - NOTED_FILES} other unusable file(s)"
            )
        self._tally_notes(str(folder), tally, out)
        return str(folder), self._attributes(
            "folder", tally, {"files": files, "unusable": unusable, "replaced": replaced}
        )

    def _glpi(
        self, settings: FleetSettings, fleet: Fleet, out: Emitter, errors: list[str]
    ) -> tuple[str, dict[str, JsonValue]]:
        assert settings.glpi_url is not None
        tally = SourceTally()
        notes: list[str] = []
        extra: dict[str, JsonValue] = {}
        started = time.monotonic()
        stopped = False

        def keep_going() -> bool:
            nonlocal stopped
            stopped = stopped or not self._in_time(out, fleet)
            return not stopped and not fleet.full

        client = GlpiClient(
            settings.glpi_url,
            settings.user_token or "",
            settings.app_token,
            settings.ca_file,
            settings.timeout,
            settings.page_size,
        )
        try:
            with client:
                extra["computers"] = read_glpi(
                    client,
                    lambda machine, fallback: fleet.add(machine, tally, fallback),
                    keep_going,
                    notes,
                )
        except GlpiError as exc:
            extra["error"] = str(exc)
            errors.append(f"{exc} ({tally.machines} machine(s) lue(s) avant / read before)")
        for note in notes:
            out.note(note)
        if stopped:
            out.note(
                f"GLPI {client.where} : lecture arrêtée pour tenir le délai de la sonde / "
                "reading stopped to meet the probe's deadline"
            )
        extra["requests"] = client.requests
        extra["seconds"] = round(time.monotonic() - started, 1)
        self._tally_notes(f"GLPI {client.where}", tally, out)
        return settings.glpi_url, self._attributes("glpi", tally, extra)

    @staticmethod
    def _tally_notes(where: str, tally: SourceTally, out: Emitter) -> None:
        if tally.macos_programs:
            out.note(
                f"{where}: {tally.macos_programs} programme(s) de postes macOS non comparés au "
                "catalogue (nommés sans identifiant de paquet) / program(s) of macOS machines "
                "not matched (named without a bundle identifier)"
            )
        if tally.truncated:
            out.note(
                f"{where}: {tally.truncated} machine(s) aux programmes trop nombreux, liste "
                "coupée / machine(s) with too many programs, list cut"
            )

    @staticmethod
    def _attributes(
        kind: str, tally: SourceTally, extra: dict[str, JsonValue]
    ) -> dict[str, JsonValue]:
        attributes: dict[str, JsonValue] = {
            "kind": kind,
            "count": tally.machines,
            "duplicates": tally.duplicates,
            "formats": dict(tally.formats),
        }
        attributes.update(extra)
        return attributes
