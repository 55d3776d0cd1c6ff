"""FusionInventory / GLPI Agent XML and OCS Inventory NG XML inventories, read as a stream.

Both agents write the format OCS Inventory NG defined: `REQUEST` > `CONTENT` > one element per
section (`HARDWARE`, `BIOS`, `OPERATINGSYSTEM`, one `SOFTWARES` per program, `ANTIVIRUS`…) and
`DEVICEID`. FusionInventory and GLPI Agent say who they are in `CONTENT/VERSIONCLIENT`
("FusionInventory-Agent_v2.6-3"); OCS agents do not (the Windows agent writes `HARDWARE/ARCH`
"x86 64 bits", the Unix agent `HARDWARE/DESCRIPTION`).

Safety, as defusedxml gives it, at the speed of the C parser: entities can only be declared in a
document type declaration, so a document holding `<!DOCTYPE` (or `<!ENTITY`) anywhere is refused
with defusedxml's `DTDForbidden` before those bytes reach the parser; no entity can then be
declared, expanded (billion laughs, quadratic blowup) or fetched (external entities), and expat's
own amplification limits stay as a second guard. (defusedxml's `iterparse` runs ElementTree's
pure-Python parser: with it, benchmarks/bench_fleet.py read a fleet at 0.24 of a plain
`iterparse` loop's rate, below the 0.5 asked.)

A document of up to 1 MiB (a workstation's is 50 to 300 kB) is parsed in one go by the C parser,
so only its sections reach Python; a larger one is streamed and each section emptied once read,
so memory holds one section at a time. The number of elements is bounded (`MAX_ELEMENTS`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, Final
from xml.etree.ElementTree import Element, XMLParser, XMLPullParser

from defusedxml import DTDForbidden, EntitiesForbidden

from probes.fleet.machine import MAX_TEXT, Machine, printable, text

MAX_ELEMENTS: Final = 500_000
"""Elements read per file at most: a real inventory has some thousands, a big server's tens of
thousands."""
WHOLE: Final = 1 << 20
"""Documents up to this size (a workstation's inventory is 50 to 300 kB) are parsed at once."""
CHUNK: Final = 1 << 16
_DECLARATIONS: Final = (b"<!DOCTYPE", b"<!ENTITY")
_OVERLAP: Final = 8


class InventoryError(ValueError):
    """The file is not a usable inventory; the message says why, in French then English."""


def _fields(section: Element) -> dict[str, str | None]:
    """The section's leaf values by tag."""
    return {child.tag: child.text for child in section}


def _hardware(machine: Machine, section: Element) -> None:
    values = _fields(section)
    machine.add_identity("uuid", text(values.get("UUID")))
    if not machine.os_name:
        machine.os_name = text(values.get("OSNAME"))
    if not machine.kernel_version:
        machine.kernel_version = text(values.get("OSVERSION"))
    machine.vmsystem = machine.vmsystem or text(values.get("VMSYSTEM"))
    machine.chassis = machine.chassis or text(values.get("CHASSIS_TYPE"))
    machine.add_identity("name", text(values.get("NAME")))
    if "ARCH" in values or "DESCRIPTION" in values:
        machine.format = machine.format or "ocs-xml"


def _bios(machine: Machine, section: Element) -> None:
    values = _fields(section)
    machine.manufacturer = text(values.get("SMANUFACTURER") or values.get("MMANUFACTURER"))
    machine.model = text(values.get("SMODEL") or values.get("MMODEL"))
    serial = text(values.get("SSN"))
    if serial:
        machine.add_identity("serial", f"{machine.manufacturer}/{serial}")


def _operating_system(machine: Machine, section: Element) -> None:
    values = _fields(section)
    # FULL_NAME ("Microsoft Windows 10 Professionnel") is what HARDWARE/OSNAME says too.
    machine.os_name = text(values.get("FULL_NAME") or values.get("NAME")) or machine.os_name
    machine.os_version = text(values.get("VERSION"))
    machine.kernel_name = text(values.get("KERNEL_NAME"))
    machine.kernel_version = text(values.get("KERNEL_VERSION")) or machine.kernel_version


def _software(machine: Machine, section: Element) -> None:
    # One call per program, 150 per workstation: the C `findtext`, no dictionary.
    name = section.findtext("NAME")
    if name:
        machine.add_software(
            text(name),
            printable((section.findtext("VERSION") or "").strip()[:MAX_TEXT]),
            printable((section.findtext("PUBLISHER") or "").strip()[:MAX_TEXT]),
            section.findtext("RELEASE_TYPE") or "",
            section.findtext("FROM") or "",
        )


def _antivirus(machine: Machine, section: Element) -> None:
    values = _fields(section)
    machine.add_antivirus(text(values.get("NAME")), text(values.get("ENABLED")) != "0")


def _access_log(machine: Machine, section: Element) -> None:
    machine.date = text(_fields(section).get("LOGDATE"))


def _version_client(machine: Machine, section: Element) -> None:
    client = (section.text or "").lower()
    if "fusioninventory" in client:
        machine.format = "fusioninventory-xml"
    elif "glpi" in client:
        machine.format = "glpi-agent-xml"
    elif "ocs" in client:
        machine.format = "ocs-xml"


SECTIONS: Final[dict[str, Callable[[Machine, Element], None]]] = {
    "HARDWARE": _hardware,
    "BIOS": _bios,
    "OPERATINGSYSTEM": _operating_system,
    "SOFTWARES": _software,
    "ANTIVIRUS": _antivirus,
    "ACCESSLOG": _access_log,
    "VERSIONCLIENT": _version_client,
}


def _refuse_declarations(chunk: bytes) -> None:
    """defusedxml's refusal of a DTD or an entity declaration, before the parser sees it."""
    if b"<!" in chunk:
        if _DECLARATIONS[0] in chunk:
            raise DTDForbidden("", None, None)
        if _DECLARATIONS[1] in chunk:
            raise EntitiesForbidden("", None, "", None, None, None)


def _not_an_inventory(root_tag: str) -> InventoryError:
    return InventoryError(
        f"pas un inventaire OCS / FusionInventory (racine <{root_tag[:40]}>) / not an OCS or "
        f"FusionInventory inventory (root <{root_tag[:40]}>)"
    )


def _finished(machine: Machine, device_id: str) -> Machine:
    machine.add_identity("deviceid", device_id)
    machine.format = machine.format or "ocs-xml"
    return machine


def _from_tree(root: Element) -> Machine:
    """A small document, parsed whole by the C parser: only its sections reach Python."""
    content = root.find("CONTENT")
    if root.tag != "REQUEST" or content is None:
        raise _not_an_inventory(root.tag)
    machine = Machine(format="")
    sections = SECTIONS
    for section in content:
        handler = sections.get(section.tag)
        if handler is not None:
            handler(machine, section)
    return _finished(machine, text(root.findtext("DEVICEID")))


def _streamed(head: bytes, stream: IO[bytes]) -> Machine:
    """A large document, read chunk by chunk: each section is emptied once read."""
    machine = Machine(format="")
    parser: XMLPullParser[Element] = XMLPullParser(events=("end",))
    sections = SECTIONS
    elements = 0
    content = False
    device_id = ""
    last = b""
    element: Element | None = None
    chunk = head
    while chunk:
        _refuse_declarations(last + chunk)
        last = chunk[-_OVERLAP:]
        parser.feed(chunk)
        for _, element in parser.read_events():  # type: ignore[assignment,misc]
            assert element is not None
            tag = element.tag
            handler = sections.get(tag)
            if handler is not None:
                handler(machine, element)
                element.clear()
            elif tag == "DEVICEID":
                device_id = text(element.text)
            elif tag == "CONTENT":
                content = True
            elif len(element):
                element.clear()
            elements += 1
        if elements > MAX_ELEMENTS:
            raise InventoryError(
                f"plus de {MAX_ELEMENTS} éléments XML / more than {MAX_ELEMENTS} XML elements"
            )
        chunk = stream.read(CHUNK)
    parser.close()
    for _, element in parser.read_events():  # type: ignore[assignment,misc]  # noqa: B007
        continue  # the last one is the root
    root_tag = element.tag if element is not None else ""
    if root_tag != "REQUEST" or not content:
        raise _not_an_inventory(root_tag)
    return _finished(machine, device_id)


def read_xml(stream: IO[bytes]) -> Machine:
    """The machine an XML inventory describes; InventoryError when it is not one.

    A document of up to `WHOLE` bytes is parsed at once by the C parser (its tree is small);
    a larger one is streamed. Raises defusedxml's DTDForbidden or EntitiesForbidden for a DTD or
    an entity, and `xml.etree.ElementTree.ParseError` for a document that is not well-formed.
    """
    head = stream.read(WHOLE + 1)
    if len(head) > WHOLE:
        return _streamed(head, stream)
    _refuse_declarations(head)
    if head.count(b"<") > MAX_ELEMENTS:
        raise InventoryError(
            f"plus de {MAX_ELEMENTS} éléments XML / more than {MAX_ELEMENTS} XML elements"
        )
    parser = XMLParser()  # noqa: S314 - no DTD, hence no entity: refused above
    parser.feed(head)
    return _from_tree(parser.close())
