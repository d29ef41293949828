"""Several "hosts" on one machine: network namespaces joined to this one by veth pairs.

Each :class:`Host` is a network namespace (``ip netns add``) with one veth pair
to the root namespace and a private /30 of its own: the root end is ``.1``, the
host's end ``.2``.  A host reaches nothing but that address; the services it
needs (PostgreSQL, Redis, the model server, all listening on 127.0.0.1 here)
are forwarded onto it by ``socat`` (one listener per service on the root end,
so deleting a host takes its forwarders' address with it and touches nothing
shared).  Processes run there under a hostname of their own (a UTS namespace
too), so ``socket.gethostname()`` — and with it a worker's lease owner — names
the host.

Needs root, ``ip`` and ``socat``; :func:`missing` says what is absent.  Names are
unique per process (namespace ``fy-<pid>x<n>``), and :meth:`Host.destroy`
kills every process in the namespace by id before ``ip netns del``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import os
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

__all__ = ["Host", "forward_url", "missing"]

_counter = itertools.count(1)
# 10.213.0.0/16 carved into /30s; the pid spreads concurrent sessions apart.
_POOL = ipaddress.ip_network("10.213.0.0/16")


def missing() -> str | None:
    """Why hosts cannot be made here (None when they can)."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "socat", "unshare"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed"
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def _addresses_in_use() -> set[ipaddress.IPv4Address]:
    out = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout
    used = set()
    for line in out.splitlines():
        parts = line.split()
        if "inet" in parts:
            used.add(ipaddress.ip_interface(parts[parts.index("inet") + 1]).ip)
    return used


def _free_subnet() -> ipaddress.IPv4Network:
    used = _addresses_in_use()
    subnets = list(_POOL.subnets(new_prefix=30))
    start = (os.getpid() * 7 + next(_counter) * 13) % len(subnets)
    for index in range(len(subnets)):
        subnet = subnets[(start + index) % len(subnets)]
        if not any(address in subnet for address in used):
            return subnet
    raise RuntimeError(f"no free /30 left in {_POOL}")


class Host:
    """One network namespace with a veth to the root namespace and forwarded services.

    Args:
        label: Short name (letters/digits) put in the hostname, e.g. ``a``.
        log_dir: Where the forwarders' and processes' logs go.
    """

    def __init__(self, label: str, log_dir: Path) -> None:
        number = next(_counter)
        tag = f"{os.getpid()}x{number}"  # unique on this machine while this process lives
        self.namespace = f"fy-{tag}"
        self.hostname = f"fyhost-{label}-{tag}"
        self.log_dir = log_dir
        self._root_if = f"fyr{tag}"[:15]
        self._peer_if = f"fyp{tag}"[:15]
        self._forwarders: list[subprocess.Popen[bytes]] = []
        self.forwarded: set[int] = set()
        self._processes: list[tuple[subprocess.Popen[bytes], IO[bytes]]] = []
        self.alive = False
        subnet = _free_subnet()
        self.root_address, self.address = (str(a) for a in list(subnet.hosts())[:2])
        try:
            self._create(subnet.prefixlen)
        except BaseException:
            self.destroy()
            raise

    def _create(self, prefix: int) -> None:
        _ip("netns", "add", self.namespace)
        self.alive = True
        _ip("link", "add", self._root_if, "type", "veth", "peer", "name", self._peer_if)
        _ip("link", "set", self._peer_if, "netns", self.namespace)
        _ip("addr", "add", f"{self.root_address}/{prefix}", "dev", self._root_if)
        _ip("link", "set", self._root_if, "up")
        inside = ["netns", "exec", self.namespace, "ip"]
        _ip(*inside, "addr", "add", f"{self.address}/{prefix}", "dev", self._peer_if)
        _ip(*inside, "link", "set", self._peer_if, "up")
        _ip(*inside, "link", "set", "lo", "up")
        _ip(*inside, "route", "add", "default", "via", self.root_address)

    def forward(self, port: int, to_port: int | None = None, to_host: str = "127.0.0.1") -> int:
        """Listen on this host's root-side address at ``port``, forwarding to ``to_host``."""
        target = f"TCP:{to_host}:{to_port or port}"
        log = (self.log_dir / f"{self.namespace}-socat-{port}.log").open("wb")
        proc = subprocess.Popen(
            ["socat", f"TCP-LISTEN:{port},bind={self.root_address},reuseaddr,fork", target],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self._forwarders.append(proc)
        deadline = time.monotonic() + 10
        while not _listening(self.root_address, port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"socat could not listen on {self.root_address}:{port}")
            time.sleep(0.05)
        return port

    def spawn(
        self, argv: Sequence[str], env: dict[str, str], log_name: str, cwd: Path | None = None
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` inside the namespace, under this host's hostname."""
        inner = f"hostname {shlex.quote(self.hostname)} && exec {shlex.join(argv)}"
        log_path = self.log_dir / log_name
        log = log_path.open("wb")
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.namespace, "unshare", "--uts", "sh", "-c", inner],
            env=env,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._processes.append((proc, log))
        return proc

    def pids(self) -> list[int]:
        """Every process whose network namespace is this host's."""
        if not self.alive:
            return []
        out = subprocess.run(
            ["ip", "netns", "pids", self.namespace], capture_output=True, text=True
        ).stdout
        return [int(pid) for pid in out.split()]

    def destroy(self) -> None:
        """Kill this host's processes (by id) and delete it, as a machine failure would."""
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for proc, log in self._processes:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
            log.close()
        self._processes.clear()
        for proc in self._forwarders:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        self._forwarders.clear()
        if self.alive:
            subprocess.run(["ip", "netns", "del", self.namespace], capture_output=True)
            self.alive = False
        # Deleting the namespace removes the veth pair; this is for a half-made host.
        subprocess.run(["ip", "link", "del", self._root_if], capture_output=True)


def _listening(host: str, port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def forward_url(url: str, host: Host) -> str:
    """``url`` (on 127.0.0.1) as a process on ``host`` reaches it, its port forwarded there."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    port = parts.port
    if port is None:
        raise ValueError(f"{url}: name the port")
    if port not in host.forwarded:
        host.forward(port, port, parts.hostname or "127.0.0.1")
        host.forwarded.add(port)
    netloc = parts.netloc.rsplit("@", 1)
    userinfo = f"{netloc[0]}@" if len(netloc) == 2 else ""
    return urlunsplit(parts._replace(netloc=f"{userinfo}{host.root_address}:{port}"))
