"""Hostile and broken files: each gives a note naming it, and the other machines are kept.

The bad files sit in one folder beside two good inventories (the published Windows 8.1 sample and
a GLPI Agent JSON sample): XML bombs, an external entity, a gzip bomb, a truncated gzip, a value of
megabytes, bytes that are not UTF-8, malformed XML, an unknown format, JSON against the schema, a
printer's inventory.
"""

from __future__ import annotations

import gzip
import shutil
import sys
import zlib
from pathlib import Path

import pytest

from probes.fleet import folder as folder_module
from probes.fleet import xmlinventory

helpers = sys.modules["tiebreak_test_fleet_helpers"]
MIB = 1 << 20

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<REQUEST><CONTENT><SOFTWARES><NAME>&lol9;</NAME></SOFTWARES></CONTENT></REQUEST>
"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE REQUEST [<!ENTITY secret SYSTEM "file:///etc/shadow">]>
<REQUEST><CONTENT><HARDWARE><NAME>&secret;</NAME></HARDWARE></CONTENT></REQUEST>
"""


def _good(folder: Path) -> None:
    shutil.copy(helpers.TEMPLATE, folder / "windows-8.1.xml")
    shutil.copy(
        helpers.PUBLISHED / "glpi-computer_networkportwifi.json", folder / "windows-11.json"
    )


def _hostile(folder: Path) -> dict[str, str]:
    """Write the bad files; return each file's name and the words its note must hold."""
    template = helpers.TEMPLATE.read_text(encoding="utf-8")
    (folder / "bombe.xml").write_text(BILLION_LAUGHS, encoding="utf-8")
    (folder / "xxe.xml").write_text(EXTERNAL_ENTITY, encoding="utf-8")
    with gzip.open(folder / "bombe.xml.gz", "wb", compresslevel=9) as packed:
        packed.write(b"<REQUEST><CONTENT><!--")
        for _ in range(12):
            packed.write(b" " * MIB)
        packed.write(b"--></CONTENT></REQUEST>")
    whole = gzip.compress(template.encode("utf-8"))
    (folder / "tronque.xml.gz").write_bytes(whole[: len(whole) // 2])
    (folder / "tronque.xml").write_text(template[: len(template) // 2], encoding="utf-8")
    (folder / "inconnu.dat").write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n")
    (folder / "pas-un-inventaire.xml").write_text("<html><body>bonjour</body></html>")
    (folder / "schema.json").write_text(
        '{"deviceid": "x", "content": {"versionclient": "GLPI-Agent_v1.9", "softwares": "pas une '
        'liste"}}',
        encoding="utf-8",
    )
    (folder / "imprimante.json").write_text(
        (helpers.PUBLISHED / "glpi-computer_networkportwifi.json")
        .read_text(encoding="utf-8")
        .replace('"itemtype": "Computer"', '"itemtype": "Printer"'),
        encoding="utf-8",
    )
    return {
        "bombe.xml": "DTD ou entité interdite",
        "xxe.xml": "DTD ou entité interdite",
        "bombe.xml.gz": "plus de 4 Mio une fois décompressé",
        "tronque.xml.gz": "fichier compressé tronqué ou abîmé",
        "tronque.xml": "XML mal formé",
        "inconnu.dat": "format inconnu",
        "pas-un-inventaire.xml": "pas un inventaire OCS / FusionInventory (racine <html>)",
        "schema.json": "content/softwares: 'pas une liste' is not of type 'array'",
        "imprimante.json": "pas d'un ordinateur",
    }


def test_each_hostile_file_is_named_in_a_note_and_the_good_machines_are_kept(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    _good(folder)
    expected = _hostile(folder)
    scan = helpers.scan(folders=(folder,), max_file_bytes=4 * MIB)
    assert scan.run.status == "ok", scan.run.error
    notes = scan.run.notes
    for name, words in expected.items():
        (note,) = [note for note in notes if note.startswith(f"{folder / name}:")]
        assert words in note, note
    (source,) = scan.observed("fleet.source").values()
    assert (source["count"], source["unusable"], source["files"]) == (2, len(expected), 11)
    assert scan.finding("microsoft-windows").attributes["devices"] == 2
    assert "root:" not in scan.json  # /etc/shadow was never read


def test_a_huge_value_is_cut_and_bytes_that_are_not_utf8_are_replaced(tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    huge = "A" * (3 * MIB)
    programs = [(huge, "1.0", "Éditeur"), ("Mozilla Firefox (x64 fr)", "133.0", "Mozilla")]
    text = helpers.derived_xml(
        "poste-long", "Microsoft Windows 10 Professionnel", "10.0.19045", programs
    )
    (folder / "long.xml").write_text(text, encoding="utf-8")
    latin1 = helpers.derived_xml(
        "poste-latin1", "Microsoft Windows 10 Professionnel", "10.0.19045",
        [("Logiciel métier de la mairie", "2.0", "Éditeur régional")],
    ).encode("latin-1", errors="replace")  # fmt: skip
    assert latin1.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    (folder / "latin1.xml").write_bytes(latin1)
    scan = helpers.scan(folders=(folder,))
    assert scan.run.status == "ok", scan.run.error
    programs = scan.observed("package.windows")
    assert "A" * 256 in programs and all(len(name) <= 256 for name in programs)
    assert "Logiciel m\ufffdtier de la mairie" in programs
    (note,) = [note for note in scan.run.notes if "latin1.xml" in note]
    assert "encodage invalide, caractères remplacés" in note
    assert scan.finding("firefox").attributes["devices"] == 1
    assert len(scan.json) < 2 * MIB


def test_too_many_elements_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xmlinventory, "MAX_ELEMENTS", 500)
    folder = tmp_path / "exports"
    folder.mkdir()
    shutil.copy(helpers.TEMPLATE, folder / "grand.xml")  # about 900 elements
    scan = helpers.scan(folders=(folder,))
    assert scan.run.status == "failed"  # nothing could be read: the run's error says why
    assert "plus de 500 éléments XML" in scan.notes() or "plus de 500 éléments XML" in str(
        scan.run.error
    )


def test_the_ocs_windows_agents_zlib_file_is_read(tmp_path: Path) -> None:
    """`ocsinventory.exe /local` writes zlib-compressed `.ocs` files."""
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "poste.ocs").write_bytes(zlib.compress(helpers.TEMPLATE.read_bytes()))
    scan = helpers.scan(folders=(folder,))
    assert scan.finding("microsoft-office").attributes["devices"] == 1


def test_a_missing_folder_and_a_vanished_file_are_named(tmp_path: Path) -> None:
    good = tmp_path / "exports"
    good.mkdir()
    _good(good)
    missing = tmp_path / "absent"
    scan = helpers.scan(folders=(missing, good))
    assert scan.run.status == "ok"
    assert f"{missing}: dossier illisible / unreadable folder" in scan.notes()
    assert scan.finding("microsoft-windows").attributes["devices"] == 2
    only_missing = helpers.scan(folders=(missing,))
    assert only_missing.run.status == "failed"
    assert str(missing) in str(only_missing.run.error)
    machine, problem, _ = folder_module.read_file(tmp_path / "parti.xml", MIB)
    assert machine is None and problem is not None and "illisible / unreadable" in problem.reason


def test_control_characters_in_names_are_replaced(tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    hostile = "Outil\u202e\u200b rouge"  # right-to-left override, zero-width space
    text = helpers.derived_xml(
        "poste-hostile", "Microsoft Windows 10 Professionnel", "10.0.19045",
        [(hostile, "1.0\u0085", "Éditeur\u2028inconnu")],
    )  # fmt: skip
    (folder / "hostile.xml").write_text(text, encoding="utf-8")
    scan = helpers.scan(folders=(folder,))
    programs = scan.observed("package.windows")
    names = [name for name in programs if name.startswith("Outil")]
    assert names and all(name.isprintable() for name in names), names
    assert "\u202e" not in scan.json and "\\u202e" not in scan.json
