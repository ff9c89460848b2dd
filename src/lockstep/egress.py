"""Which addresses the engine may fetch from on a tenant's behalf.

A tenant writes the URL of its GitRepository, OCIRepository and ImageRepository and the
server of its remote cluster's kubeconfig; the engine connects there with its own
network position. Without a check, a tenant can make the engine reach what only the
engine can reach: the cloud's metadata service (169.254.169.254), the API servers and
databases of the cluster network, the engine's own ports on loopback.

:class:`Egress` is the check. Open (the default, as Flux), it allows everything. With
``block_internal`` (``lockstep run --block-internal-addresses``), a host is refused when
any address it resolves to is not a global unicast one: loopback, private (RFC 1918,
``fc00::/7``), link-local (the metadata services), shared (``100.64.0.0/10``),
multicast, reserved. ``allowed`` (``--allow-address``, repeatable) names the
exceptions: networks (``10.20.0.0/16``, ``10.20.1.5``) and host names (``git.internal``,
or ``*.corp.example`` for every host under a domain), so that a platform's own Git
server stays usable.

The check resolves the name itself, then the client connects: a name that resolves
differently the second time (DNS rebinding) is not caught, nor is a redirect followed by
libgit2. Restricting the engine's egress with a NetworkPolicy closes both; this check
gives the clear message. A name that does not resolve is left to the client, which
reports it as unreachable.

Hand-written: it is a few lines over :mod:`ipaddress`, and no library does this
decision with these messages. Pure: it imports nothing of lockstep.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_SCP_LIKE = re.compile(r"^(?:[^@/:]+@)?(?P<host>\[[^\]]+\]|[^@/:]+):(?!//)")
"""``git@host:path``, Git's scp-like syntax: a host before the first colon, no scheme."""


class EgressRefused(Exception):
    """The host is internal and not allowed; the message names it and what to do."""


@dataclass(frozen=True)
class Egress:
    """Whether internal addresses are refused, and the exceptions."""

    block_internal: bool = False
    networks: tuple[IpNetwork, ...] = ()
    hosts: tuple[str, ...] = ()
    """Lower-case host names; an entry starting with ``*.`` allows every host under it."""

    @classmethod
    def of(cls, block_internal: bool, allowed: Iterable[str] = ()) -> Egress:
        """The policy of the command-line flags; raises :class:`ValueError` naming an
        entry of ``allowed`` that is neither a network nor a host name."""
        networks: list[IpNetwork] = []
        hosts: list[str] = []
        for entry in allowed:
            value = entry.strip()
            try:
                networks.append(ipaddress.ip_network(value, strict=False))
                continue
            except ValueError:
                pass
            name = value.lower()
            if not re.fullmatch(r"(\*\.)?[a-z0-9]([a-z0-9.-]*[a-z0-9])?", name):
                raise ValueError(
                    f"--allow-address {entry!r} is neither a network (10.0.0.0/8, 10.0.0.5) "
                    "nor a host name (git.internal, *.corp.example)"
                )
            hosts.append(name)
        return cls(block_internal, tuple(networks), tuple(hosts))

    @property
    def open(self) -> bool:
        return not self.block_internal

    def check_url(self, url: str, what: str) -> None:
        """Refuse the host of ``url`` (any scheme, or Git's ``user@host:path``) when it
        is internal and not allowed; ``what`` names the object for the message. Blocks
        on name resolution: call from a worker thread."""
        if self.open:
            return
        host = host_of(url)
        if host:
            self.check_host(host, what)

    def check_host(self, host: str, what: str) -> None:
        """Refuse ``host`` (a name or an address) when it is internal and not allowed."""
        if self.open or self._host_allowed(host):
            return
        literal = _literal(host)
        for address in [literal] if literal else _resolve(host):
            if _internal(address) and not any(address in net for net in self.networks):
                shown = host if literal else f"{host} ({address})"
                raise EgressRefused(
                    f"{what}: {shown} is an internal address, which lockstep refuses to "
                    "fetch from (--block-internal-addresses); point it at another host, or "
                    f"allow it with --allow-address {address}"
                )

    def _host_allowed(self, host: str) -> bool:
        name = host.lower().rstrip(".")
        return any(
            name == allowed or (allowed.startswith("*.") and name.endswith(allowed[1:]))
            for allowed in self.hosts
        )


OPEN = Egress()
"""Everything allowed: Flux's behaviour, and the default."""


def host_of(url: str) -> str:
    """The host ``url`` connects to, without brackets; empty for a relative or local one."""
    if "://" not in url:
        match = _SCP_LIKE.match(url)
        return match.group("host").strip("[]") if match else ""
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


def _literal(host: str) -> IpAddress | None:
    """The address ``host`` writes out, IPv4 for an IPv4-mapped one; None for a name."""
    try:
        address = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _resolve(host: str) -> list[IpAddress]:
    """Every address the name ``host`` stands for; none when it does not resolve."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []
    return [address for info in infos if (address := _literal(str(info[4][0])))]


def _internal(address: IpAddress) -> bool:
    """Whether an address is anything but a global unicast one."""
    return not address.is_global or address.is_multicast
