"""The proxy's kernel mode: a table of gitkube's own in nftables (DNAT, round robin).

The proxy owns exactly one table, ``table ip <name>`` (``table_name(cidr)``: the service
range, this process and a counter: ``gitkube_svc_10_96_0_0_16_p1234_1``; two proxies on one
machine, test runs for example, never rewrite each other's table) and never touches any
other table or chain (Podman's, iptables-nft's ``nat``/``filter``, anyone's). The one
exception: at start, a table of that pattern for the same range whose process no longer
exists (a proxy that was killed before it could delete it) is deleted (``remove_stale``).

Its content is rendered whole from the proxy's view (``render``) and written in **one**
``nft -f`` transaction: ``table`` (create when missing) + ``flush table`` + every chain and
rule again. The kernel applies it atomically: no packet ever sees the table half-written or
missing, and connections already established keep their conntrack entries (a DNAT decision
is taken on a connection's first packet only), so an endpoint change never breaks a
connection to an endpoint that remains.

Chains::

    services     one rule per TCP service port served by the kernel:
                 ip daddr CLUSTER_IP tcp dport PORT
                     dnat ip to numgen inc mod N map { 0 : IP . PORT, ... }   (round robin)
    prerouting   nat, hook prerouting  (pods' packets):  ip daddr <range> jump services
    output       nat, hook output      (the host's):     ip daddr <range> jump services
    postrouting  nat, hook postrouting: connections DNATed from the service range that leave
                 by an interface other than lo are masqueraded (the backend answers to the
                 host, which undoes both translations: needed when a pod reaches itself
                 through its Service, and for host clients whose source is the ClusterIP)
    refuse       filter, hook input: ``reject with tcp reset`` for each TCP service port
                 without Ready endpoints (the local route would refuse them too; the rule
                 makes it explicit and independent of whatever else listens on the host)

``remove()`` deletes the table (and nothing else).
"""

from __future__ import annotations

import ipaddress
import itertools
import logging
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass

from gitkube.agents.proxy.table import Backend
from gitkube.errors import GitkubeError

log = logging.getLogger("gitkube.proxy")


class NftError(GitkubeError):
    """nft is missing or refused a ruleset."""


@dataclass(frozen=True, order=True)
class KernelPort:
    """A TCP ``ClusterIP:port`` DNATed by the kernel (no backends: refused)."""

    address: str
    port: int
    service: str  # the ServicePort id (``ns/name:port/TCP``)
    backends: tuple[Backend, ...]


_counter = itertools.count(1)


def range_prefix(cidr: str) -> str:
    """``gitkube_svc_10_96_0_0_16``: what every gitkube table of the range ``cidr`` starts
    with."""
    net = ipaddress.IPv4Network(cidr, strict=False)
    return "gitkube_svc_" + str(net).replace(".", "_").replace("/", "_")


def table_name(cidr: str) -> str:
    """A new table name for a proxy of this process on ``cidr``
    (``gitkube_svc_10_96_0_0_16_p<pid>_<n>``)."""
    return f"{range_prefix(cidr)}_p{os.getpid()}_{next(_counter)}"


def remove_stale(cidr: str) -> list[str]:
    """Delete the tables of gitkube proxies on ``cidr`` whose process is gone (killed before
    they could delete them); only names of the ``table_name`` pattern. Returns them."""
    try:
        out = subprocess.run(["nft", "list", "tables", "ip"], capture_output=True, text=True,
                             timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    pattern = re.compile(rf"^table ip ({re.escape(range_prefix(cidr))}_p(\d+)_\d+)$")
    gone = []
    for line in out.splitlines():
        m = pattern.match(line.strip())
        if m and not os.path.exists(f"/proc/{m.group(2)}"):
            gone.append(m.group(1))
    for name in gone:
        try:
            nft(f"table ip {name} {{}}\ndelete table ip {name}\n")
            log.warning("proxy: deleted the nftables table %s of a proxy that is gone", name)
        except NftError as e:
            log.warning("proxy: could not delete the stale table %s: %s", name, e)
    return gone


def _dnat(p: KernelPort) -> str:
    targets = ", ".join(f"{i} : {b.ip} . {b.port}" for i, b in enumerate(p.backends))
    return (f"ip daddr {p.address} tcp dport {p.port} dnat ip to numgen inc mod "
            f"{len(p.backends)} map {{ {targets} }}")


def render(name: str, cidr: str, ports: Iterable[KernelPort]) -> str:
    """The whole table as one ``nft -f`` script (flush and refill, one transaction)."""
    net = ipaddress.IPv4Network(cidr, strict=False)
    ports = sorted(ports)
    dnat = "\n".join(f"    {_dnat(p)}" for p in ports if p.backends)
    refuse = "\n".join(f"    ip daddr {p.address} tcp dport {p.port} reject with tcp reset"
                       for p in ports if not p.backends)
    return f"""table ip {name} {{}}
flush table ip {name}
table ip {name} {{
  chain services {{
{dnat}
  }}
  chain prerouting {{
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr {net} jump services
  }}
  chain output {{
    type nat hook output priority -100; policy accept;
    ip daddr {net} jump services
  }}
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    ct status dnat ct original ip daddr {net} oifname != "lo" masquerade
  }}
  chain refuse {{
    type filter hook input priority filter; policy accept;
{refuse}
  }}
}}
"""


def nft(script: str, *, check: bool = False) -> None:
    """Run ``nft -f -`` on ``script`` (``check``: validated by the kernel, not applied)."""
    if shutil.which("nft") is None:
        raise NftError("the nft command (nftables) is not installed")
    args = ["nft", *(["--check"] if check else []), "-f", "-"]
    try:
        proc = subprocess.run(args, input=script, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as e:
        raise NftError(f"nft: {e}") from e
    if proc.returncode != 0:
        raise NftError(proc.stderr.strip() or f"nft exited with {proc.returncode}")


class NftTable:
    """gitkube's table for one service range: created by ``create``, rewritten whole by
    ``apply`` (when its content changes, and every ``refresh`` s anyway: a table deleted
    by hand comes back), deleted by ``remove``."""

    def __init__(self, cidr: str, name: str | None = None, refresh: float = 10.0):
        self.cidr = str(ipaddress.IPv4Network(cidr, strict=False))
        self.name = name or table_name(cidr)
        self.refresh = refresh
        self.ports: tuple[KernelPort, ...] = ()
        self._applied: str | None = None
        self._applied_at = 0.0

    def create(self) -> None:
        """Check that the kernel takes every kind of rule used (a DNAT round robin, a reject)
        without changing anything, then create the table empty (after deleting the tables
        of proxies on this range that are gone). NftError when it cannot."""
        probe = KernelPort("192.0.2.1", 9, "probe", (Backend("192.0.2.2", 9),
                                                     Backend("192.0.2.3", 9)))
        nft(render(self.name, self.cidr, [probe, KernelPort("192.0.2.1", 10, "probe", ())]),
            check=True)
        remove_stale(self.cidr)
        self.apply([])

    def apply(self, ports: Iterable[KernelPort]) -> bool:
        """Make the table hold exactly ``ports`` (one transaction); False when it already
        did (written less than ``refresh`` s ago with that content: nothing run)."""
        ports = tuple(sorted(ports))
        script = render(self.name, self.cidr, ports)
        if script == self._applied and time.monotonic() - self._applied_at < self.refresh:
            return False
        nft(script)
        changed = script != self._applied
        self._applied, self._applied_at = script, time.monotonic()
        self.ports = ports
        return changed

    def remove(self) -> None:
        """Delete the table (only ours; already gone: nothing to do)."""
        self._applied = None
        self.ports = ()
        try:
            nft(f"table ip {self.name} {{}}\ndelete table ip {self.name}\n")
        except NftError as e:
            log.warning("proxy: could not delete nftables table %s: %s", self.name, e)


__all__ = ["KernelPort", "NftError", "NftTable", "nft", "range_prefix", "remove_stale",
           "render", "table_name"]
