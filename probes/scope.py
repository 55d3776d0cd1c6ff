"""The one place that says which addresses a probe may touch: `[scope] networks` minus `exclude`.

Every probe that sends packets to the network computes its targets here and checks every address
it hears about again (`Targets.allows`). Text that could be read as a command-line option or as
shell syntax is refused before anything runs, and so are public addresses unless the configuration
says `allow_public = true`. Errors are French first, then English, and name the value at fault.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

SCOPE_MAX_ADDRESSES = 1 << 16
"""Most addresses one scope may hold (a /16): a larger one is almost always a typing error."""

_UNSAFE = re.compile(r"[\s,;|&$`<>()'\"\\*?!{}\[\]#~^]")


class ScopeError(ValueError):
    """The scope cannot be scanned as written: nothing is sent."""


def check_text(text: str, what: str) -> None:
    """Refuse what a command line or a shell could read as something else than an address."""
    shown = text.encode("unicode_escape").decode("ascii")
    if not text:
        raise ScopeError(f"{what} : valeur vide / {what}: empty value")
    if text.startswith("-"):
        raise ScopeError(
            f"{what} : {shown!r} commence par « - » (lu comme une option) / {what}: "
            f"{shown!r} starts with '-' (read as an option)"
        )
    match = _UNSAFE.search(text)
    if match is not None:
        char = match.group().encode("unicode_escape").decode("ascii")
        raise ScopeError(
            f"{what} : {shown!r} contient {char!r}, refusé (espace ou syntaxe du shell) / "
            f"{what}: {shown!r} contains {char!r}, refused (whitespace or shell syntax)"
        )


def parse_network(text: str, what: str) -> Network:
    """A CIDR block written exactly: no host name, no host bits set."""
    check_text(text, what)
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        try:
            loose = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ScopeError(
                f"{what} : {text!r} n'est pas un bloc CIDR (adresse/longueur, pas un nom d'hôte) "
                f"/ {what}: {text!r} is not a CIDR block (address/length, not a host name)"
            ) from None
        raise ScopeError(
            f"{what} : {text!r} a des bits d'hôte ({exc}) : voulez-vous dire {loose} ? / "
            f"{what}: {text!r} has host bits set: did you mean {loose}?"
        ) from None


INTERNAL: tuple[Network, ...] = tuple(
    ipaddress.ip_network(block)
    for block in (
        "127.0.0.0/8",  # loopback
        "10.0.0.0/8",  # RFC 1918
        "172.16.0.0/12",  # RFC 1918
        "192.168.0.0/16",  # RFC 1918
        "100.64.0.0/10",  # RFC 6598, shared address space (operators' internal networks)
        "169.254.0.0/16",  # link-local
        "::1/128",  # loopback
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
    )
)
"""Blocks of an organisation's own networks. Everything else, documentation and benchmarking
ranges included, is someone else's: refused without `allow_public`."""


def is_public(network: Network) -> bool:
    """Whether the block reaches outside the internal ranges (`INTERNAL`)."""
    return not any(
        network.version == block.version and block.supernet_of(network)  # type: ignore[arg-type]
        for block in INTERNAL
    )


@dataclass(frozen=True, slots=True)
class Targets:
    """The addresses a probe may touch: the declared networks minus the exclusions."""

    declared: tuple[Network, ...]
    excluded: tuple[Network, ...]
    blocks: tuple[Network, ...]  # what is left, collapsed

    @property
    def size(self) -> int:
        return sum(block.num_addresses for block in self.blocks)

    def allows(self, address: str) -> bool:
        """Whether `address` (as a peer reported it) is inside the scope."""
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(parsed in block for block in self.blocks)

    def network_of(self, address: str) -> Network | None:
        """The declared network an address in scope belongs to (where its findings go)."""
        if not self.allows(address):
            return None
        parsed = ipaddress.ip_address(address)
        return next(network for network in self.declared if parsed in network)

    def arguments(self) -> list[str]:
        """The blocks as canonical text, for a command line (never starting with '-')."""
        return [str(block) for block in self.blocks]


def _subtract(network: Network, excluded: Sequence[Network]) -> list[Network]:
    pieces = [network]
    for block in excluded:
        remaining: list[Network] = []
        for piece in pieces:
            if piece.version != block.version or not piece.overlaps(block):
                remaining.append(piece)
            elif block.supernet_of(piece):  # type: ignore[arg-type]
                continue
            else:
                remaining.extend(piece.address_exclude(block))  # type: ignore[arg-type]
        pieces = remaining
    return pieces


def targets(
    networks: Iterable[str],
    exclude: Iterable[str] = (),
    allow_public: bool = False,
    limit: int | None = SCOPE_MAX_ADDRESSES,
) -> Targets:
    """The scope's targets, or ScopeError saying what is wrong before anything is sent (`limit`:
    most addresses a scan may cover; the configuration's own check has none)."""
    declared = tuple(parse_network(text, "[scope] networks") for text in dict.fromkeys(networks))
    excluded = tuple(parse_network(text, "[scope] exclude") for text in dict.fromkeys(exclude))
    if not declared:
        raise ScopeError(
            "[scope] networks est vide : aucun réseau à analyser / [scope] networks is empty: "
            "no network to scan"
        )
    public = [str(network) for network in declared if is_public(network)]
    if public and not allow_public:
        raise ScopeError(
            f"[scope] networks : {', '.join(public)} contient des adresses publiques ; "
            "ajoutez allow_public = true à [scope] si c'est voulu / [scope] networks: "
            f"{', '.join(public)} holds public addresses; set allow_public = true in [scope] "
            "if that is intended"
        )
    blocks: list[Network] = []
    for network in declared:
        blocks.extend(_subtract(network, excluded))
    v4 = [b for b in blocks if isinstance(b, ipaddress.IPv4Network)]
    v6 = [b for b in blocks if isinstance(b, ipaddress.IPv6Network)]
    collapsed: tuple[Network, ...] = (
        *ipaddress.collapse_addresses(v4),
        *ipaddress.collapse_addresses(v6),
    )
    if not collapsed:
        raise ScopeError(
            "[scope] exclude retire toutes les adresses de [scope] networks : rien à analyser / "
            "[scope] exclude removes every address of [scope] networks: nothing to scan"
        )
    result = Targets(declared, excluded, collapsed)
    if limit is not None and result.size > limit:
        raise ScopeError(
            f"[scope] networks : {result.size} adresses, plus que les {limit} qu'un scan "
            f"réseau couvre au plus ; retranchez-en avec exclude / [scope] networks: "
            f"{result.size} addresses, more than the {limit} a network scan covers at most; "
            "narrow it with exclude"
        )
    return result
