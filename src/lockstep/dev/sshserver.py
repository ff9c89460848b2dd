"""A loopback OpenSSH server that serves Git repositories over ssh://.

`SshGitServer` runs Debian's ``/usr/sbin/sshd`` on 127.0.0.1 on a free port, with a
configuration, a host key and one authorised client key generated into its own folder.
Git over SSH needs no daemon of its own: the client runs ``git-upload-pack <path>``
through sshd, so the server offers every bare repository on the disk, and URLs name the
repository by its absolute path, ``ssh://USER@127.0.0.1:PORT/<repos_dir>/<name>``.
Pointed at the ``repos_dir`` of a :class:`lockstep.dev.gitserver.GitServer`, it serves
the same repositories as git:// and HTTP do. Only public-key authentication is enabled,
for the user the server runs as (root on the test ground, hence
``PermitRootLogin prohibit-password``).

`generate_key_pair` makes further keys, for tests that need an identity the server does
not know or a host key it does not have.

Called by the integration-test fixtures (tests/ground/servers.py) and meant for the
``lockstep dev`` sandbox. The configuration is generated here because sshd has no
Python binding; keys come from ``ssh-keygen`` so they are in the format OpenSSH writes.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from lockstep.dev.loopback import (
    LOOPBACK,
    LoopbackProcess,
    LoopbackServer,
    free_port,
    port_answers,
)

SSHD = Path("/usr/sbin/sshd")
PRIVILEGE_SEPARATION_DIR = Path("/run/sshd")
"""Compiled into Debian's sshd, which refuses to start as root when it is missing."""

KEY_TYPE = "ed25519"


@dataclass(frozen=True)
class SshKeyPair:
    """An SSH key pair in OpenSSH's formats."""

    private_key: str = field(repr=False)
    """The private key file's text (``-----BEGIN OPENSSH PRIVATE KEY-----``), unencrypted."""

    public_key: str
    """The public key line: ``ssh-ed25519 AAAA... comment``."""

    @property
    def key_type_and_blob(self) -> str:
        """The public key without its comment, as a known_hosts entry ends."""
        return " ".join(self.public_key.split()[:2])


def generate_key_pair(path: Path, comment: str) -> SshKeyPair:
    """Write a new unencrypted key pair to `path` and `path`.pub, and return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    public_path = path.with_name(path.name + ".pub")
    for existing in (path, public_path):
        existing.unlink(missing_ok=True)  # ssh-keygen would ask before overwriting
    result = subprocess.run(
        ["ssh-keygen", "-q", "-t", KEY_TYPE, "-N", "", "-C", comment, "-f", str(path)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"ssh-keygen failed for {path}: {result.stderr.strip()}")
    return SshKeyPair(
        private_key=path.read_text(encoding="ascii"),
        public_key=public_path.read_text(encoding="ascii").strip(),
    )


class SshGitServer(LoopbackServer):
    """sshd on 127.0.0.1 serving the bare repositories under `repos_dir` to one client key."""

    def __init__(self, root: Path, repos_dir: Path) -> None:
        self.root = root
        self.repos_dir = repos_dir
        self.user = getpass.getuser()
        self._keys: tuple[SshKeyPair, SshKeyPair] | None = None
        self._port: int | None = None
        self._process: LoopbackProcess | None = None
        self._pid_file = root / "run" / "sshd.pid"

    def start(self) -> None:
        """Generate the keys and configuration, start sshd and return once it accepts connections."""
        etc = self.root / "etc"
        host_key = generate_key_pair(etc / "host_key", f"lockstep-ssh-host@{LOOPBACK}")
        client_key = generate_key_pair(etc / "client_key", "lockstep-ssh-client")
        authorized_keys = etc / "authorized_keys"
        authorized_keys.write_text(client_key.public_key + "\n", encoding="ascii")
        self._pid_file.parent.mkdir(parents=True, exist_ok=True)
        self._pid_file.unlink(missing_ok=True)  # so that a stale one is never read
        port = free_port()
        config = etc / "sshd_config"
        config.write_text(
            _sshd_config(port, etc / "host_key", authorized_keys, self._pid_file, self.user),
            encoding="utf-8",
        )
        if os.geteuid() == 0:
            PRIVILEGE_SEPARATION_DIR.mkdir(mode=0o755, exist_ok=True)
        process = LoopbackProcess(
            "sshd", [str(SSHD), "-D", "-e", "-f", str(config)], self.root / "log" / "sshd.log"
        )
        # sshd writes its pid file right after it starts listening; stop() reads it.
        process.start(lambda: port_answers(port) and self._pid_file.exists())
        self._process = process
        self._keys = (host_key, client_key)
        self._port = port

    def stop(self) -> None:
        """Stop sshd and the sessions it serves; the port no longer listens afterwards.

        sshd starts a new session for every connection, out of reach of the process
        group that `LoopbackProcess` stops, so those are found through ``/proc`` first.
        """
        if self._process is None:
            return
        # Sessions first, while sshd is there to reap them.
        for pid in _descendants(int(self._pid_file.read_text(encoding="ascii"))):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self._process.stop()
        self._process = None
        self._port = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError(f"ssh server for {self.root} is not started; call start() first")
        return self._port

    @property
    def client_key(self) -> SshKeyPair:
        """The one key the server lets in."""
        return self._started_keys()[1]

    @property
    def host_key(self) -> SshKeyPair:
        return self._started_keys()[0]

    @property
    def known_hosts(self) -> str:
        """The known_hosts line for this server: ``[127.0.0.1]:PORT ssh-ed25519 AAAA...``."""
        return f"[{LOOPBACK}]:{self.port} {self.host_key.key_type_and_blob}"

    def ssh_url(self, name: str) -> str:
        """The URL of the repository `name` (relative to `repos_dir`)."""
        relative = PurePosixPath(name)
        if not name or relative.is_absolute() or any(p in ("..", ".") for p in relative.parts):
            raise ValueError(f"repository name {name!r} must be a relative path without . or ..")
        return f"ssh://{self.user}@{LOOPBACK}:{self.port}{self.repos_dir.resolve() / relative}"

    def _started_keys(self) -> tuple[SshKeyPair, SshKeyPair]:
        if self._keys is None:
            raise RuntimeError(f"ssh server for {self.root} is not started; call start() first")
        return self._keys


def _descendants(pid: int) -> list[int]:
    """The processes below `pid`, read from ``/proc``, parents before children."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text(encoding="ascii", errors="replace")
        except OSError:
            continue  # exited while the table was read
        # Fields after the command name, which is in parentheses and may hold spaces.
        parent = int(text.rpartition(")")[2].split()[1])
        children.setdefault(parent, []).append(int(stat.parent.name))
    found: list[int] = []
    pending = [pid]
    while pending:
        below = children.get(pending.pop(), [])
        found.extend(below)
        pending.extend(below)
    return found


def _sshd_config(
    port: int, host_key: Path, authorized_keys: Path, pid_file: Path, user: str
) -> str:
    # StrictModes is off because pytest's temporary folders are group- or world-readable
    # on some hosts; the server only ever faces loopback tests. UsePAM is off (the
    # default) so that no system login policy applies to the loopback user.
    return f"""\
ListenAddress {LOOPBACK}:{port}
HostKey {host_key}
PidFile {pid_file}
AuthorizedKeysFile {authorized_keys}
AllowUsers {user}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
AllowTcpForwarding no
X11Forwarding no
PermitTTY no
LogLevel VERBOSE
"""
