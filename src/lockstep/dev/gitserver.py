"""Loopback Git servers: git daemon and smart HTTP over one directory of bare repositories.

`GitServer` serves the bare repositories under ``<root>/repos`` on 127.0.0.1, on free
ports: ``git daemon`` for git:// and ``git http-backend`` behind lighttpd for smart HTTP.
Repositories under ``private/`` need HTTP basic auth, and can be pushed to over HTTP
once authenticated; git:// has no authentication, so the daemon refuses them.
`WorkingCopy` writes, commits, tags and branches in a non-bare repository and pushes to the
bare repository on disk, with a fixed author so commit ids are reproducible.

Called by the integration-test fixtures (tests/ground/servers.py) and meant for the
``lockstep dev`` sandbox. The configs are generated here because neither server has a
Python binding; git operations go through the git CLI, the reference implementation
the servers are paired with.
"""

from __future__ import annotations

import os
import secrets
import shlex
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from lockstep.dev.loopback import (
    LOOPBACK,
    LoopbackProcess,
    LoopbackServer,
    ServerStartError,
    free_port,
    port_answers,
)

PRIVATE_PREFIX = "private/"
GIT_HTTP_BACKEND = Path("/usr/lib/git-core/git-http-backend")

# Isolates every git command from the host's system and global configuration, and
# fixes author, committer and dates so the same steps give the same commit ids.
GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_AUTHOR_NAME": "Lockstep Test",
    "GIT_AUTHOR_EMAIL": "test@lockstep.invalid",
    "GIT_AUTHOR_DATE": "2024-01-01T00:00:00+00:00",
    "GIT_COMMITTER_NAME": "Lockstep Test",
    "GIT_COMMITTER_EMAIL": "test@lockstep.invalid",
    "GIT_COMMITTER_DATE": "2024-01-01T00:00:00+00:00",
}


class GitCommandError(RuntimeError):
    """A git command run by this module failed; the message carries git's own error."""


def run_git(args: Sequence[str], cwd: Path) -> str:
    """Run one git command with `GIT_ENV` and return its standard output."""
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **GIT_ENV},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        detail = "; ".join(line for line in result.stderr.splitlines() if line.strip())
        raise GitCommandError(f"git {' '.join(args)} failed in {cwd}: {detail}")
    return result.stdout


@dataclass(frozen=True)
class BasicCredentials:
    """Username and password of the HTTP basic auth that guards ``private/``."""

    username: str
    password: str


@dataclass(frozen=True)
class ServedRepo:
    """A bare repository on a running `GitServer`, with its two URLs."""

    name: str
    path: Path
    git_url: str
    http_url: str

    def working_copy(self, directory: Path) -> WorkingCopy:
        """Create a new working copy in `directory` whose origin is this bare repository."""
        return WorkingCopy.create(directory, origin=self.path)


class WorkingCopy:
    """A non-bare repository to build history in and push to its origin on disk."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def create(cls, path: Path, origin: Path) -> WorkingCopy:
        """Start an empty repository on `main` in `path`, with `origin` as its remote."""
        path.mkdir(parents=True, exist_ok=True)
        run_git(["init", "--quiet", "--initial-branch=main"], path)
        run_git(["remote", "add", "origin", str(origin)], path)
        return cls(path)

    def write(self, relative_path: str, content: str | bytes) -> Path:
        """Write a file (creating its directories); it is staged by the next `commit`."""
        target = self.path / relative_path
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            target.write_text(content, encoding="utf-8")
        else:
            target.write_bytes(content)
        return target

    def remove(self, relative_path: str) -> None:
        """Delete a file; the deletion is staged by the next `commit`."""
        (self.path / relative_path).unlink()

    def commit(self, message: str) -> str:
        """Commit every change in the tree (or none) and return the new commit id."""
        run_git(["add", "--all"], self.path)
        run_git(["commit", "--quiet", "--allow-empty", f"--message={message}"], self.path)
        return self.head()

    def head(self) -> str:
        return run_git(["rev-parse", "HEAD"], self.path).strip()

    def tag(self, name: str, message: str | None = None, target: str = "HEAD") -> None:
        """Tag `target`: annotated when a message is given, lightweight otherwise."""
        if message is None:
            run_git(["tag", name, target], self.path)
        else:
            run_git(["tag", "--annotate", f"--message={message}", name, target], self.path)

    def switch(self, branch: str, create: bool = False) -> None:
        """Switch to `branch`, creating it at the current commit when asked."""
        run_git(["switch", "--quiet", *(["--create"] if create else []), branch], self.path)

    def push(self) -> None:
        """Push every branch and tag to origin (fast-forward updates only)."""
        run_git(
            ["push", "--quiet", "origin", "refs/heads/*:refs/heads/*", "refs/tags/*:refs/tags/*"],
            self.path,
        )


@dataclass(frozen=True)
class _Ports:
    git: int
    http: int


class GitServer(LoopbackServer):
    """git daemon and lighttpd + git http-backend serving ``<root>/repos`` on 127.0.0.1."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.repos_dir = root / "repos"
        self.credentials = BasicCredentials("lockstep", secrets.token_urlsafe(18))
        self._ports: _Ports | None = None
        self._processes: list[LoopbackProcess] = []

    def start(self) -> None:
        """Start both servers and return once each accepts connections."""
        (self.repos_dir / PRIVATE_PREFIX).mkdir(parents=True, exist_ok=True)
        ports = _Ports(git=free_port(), http=free_port())
        try:
            self._start_process(self._git_daemon(ports.git), ports.git)
            self._start_process(self._lighttpd(ports.http), ports.http)
        except ServerStartError:
            self.stop()
            raise
        self._ports = ports

    def stop(self) -> None:
        """Stop both servers and their children; the ports no longer listen afterwards."""
        for process in reversed(self._processes):
            process.stop()
        self._processes.clear()
        self._ports = None

    def git_url(self, name: str) -> str:
        return f"git://{LOOPBACK}:{self._running_ports().git}/{_checked_name(name)}"

    def http_url(self, name: str) -> str:
        return f"http://{LOOPBACK}:{self._running_ports().http}/{_checked_name(name)}"

    def create_repo(self, name: str, private: bool = False) -> ServedRepo:
        """Create an empty bare repository (under ``private/`` when asked) on `main`."""
        served_name = PRIVATE_PREFIX + _checked_name(name) if private else _checked_name(name)
        repo = ServedRepo(
            name=served_name,
            path=self.repos_dir / served_name,
            git_url=self.git_url(served_name),
            http_url=self.http_url(served_name),
        )
        if repo.path.exists():
            raise FileExistsError(f"git repository {served_name} already exists at {repo.path}")
        repo.path.mkdir(parents=True)
        run_git(["init", "--quiet", "--bare", "--initial-branch=main"], repo.path)
        return repo

    def _running_ports(self) -> _Ports:
        if self._ports is None:
            raise RuntimeError(f"git server for {self.root} is not started; call start() first")
        return self._ports

    def _start_process(self, process: LoopbackProcess, port: int) -> None:
        self._processes.append(process)
        process.start(lambda: port_answers(port))

    def _git_daemon(self, port: int) -> LoopbackProcess:
        hook = self.root / "etc" / "git-daemon-access-hook"
        hook.parent.mkdir(parents=True, exist_ok=True)
        hook.write_text(_access_hook_script(self.repos_dir / PRIVATE_PREFIX), encoding="utf-8")
        hook.chmod(0o755)
        argv = [
            "git",
            "daemon",
            "--reuseaddr",
            f"--listen={LOOPBACK}",
            f"--port={port}",
            f"--base-path={self.repos_dir}",
            "--export-all",
            "--enable=receive-pack",
            "--informative-errors",
            f"--access-hook={hook}",
        ]
        return LoopbackProcess(
            "git daemon",
            argv,
            self.root / "log" / "git-daemon.log",
            env={**os.environ, **GIT_ENV},
        )

    def _lighttpd(self, port: int) -> LoopbackProcess:
        log = self.root / "log" / "lighttpd.log"
        users = self.root / "etc" / "users"
        users.parent.mkdir(parents=True, exist_ok=True)
        users.write_text(
            f"{self.credentials.username}:{self.credentials.password}\n", encoding="utf-8"
        )
        users.chmod(0o600)
        config = self.root / "etc" / "lighttpd.conf"
        config.write_text(_lighttpd_config(port, self.repos_dir, users, log), encoding="utf-8")
        return LoopbackProcess(
            "lighttpd (git http-backend)", ["lighttpd", "-D", "-f", str(config)], log
        )


def _checked_name(name: str) -> str:
    """Reject names that would leave the repository root or be read differently by a server."""
    parts = PurePosixPath(name).parts
    if not name or name.startswith("/") or any(part in ("..", ".") for part in parts):
        raise ValueError(f"repository name {name!r} must be a relative path without . or ..")
    return name


def _access_hook_script(private_dir: Path) -> str:
    # git daemon runs the hook before each service with the repository path as $2.
    pattern = shlex.quote(str(private_dir).rstrip("/")) + "/*"
    return (
        "#!/bin/sh\n"
        f'case "$2" in {pattern})\n'
        '  echo "repositories under private/ are served over authenticated HTTP only"\n'
        "  exit 1 ;;\n"
        "esac\n"
    )


def _lighttpd_string(value: object) -> str:
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def _lighttpd_config(port: int, repos_dir: Path, users: Path, log: Path) -> str:
    q = _lighttpd_string
    private_url = q("^/" + PRIVATE_PREFIX)
    # mod_auth must come before mod_cgi so requests are authenticated before the CGI runs.
    # The one-second delay lighttpd adds after a wrong password is disabled: libgit2
    # retries a rejected password fifteen times, which would make every test of a wrong
    # password wait fifteen seconds on a server that only ever faces loopback tests.
    return f"""\
server.modules = ("mod_alias", "mod_setenv", "mod_auth", "mod_authn_file", "mod_cgi")
server.bind = {q(LOOPBACK)}
server.port = {port}
server.document-root = {q(repos_dir)}
server.errorlog = {q(log)}
server.feature-flags = ("auth.delay-invalid-creds" => "disable")
alias.url = ("/" => {q(str(GIT_HTTP_BACKEND) + "/")})
cgi.assign = ("" => "")
setenv.add-environment = (
  "GIT_PROJECT_ROOT" => {q(repos_dir)},
  "GIT_HTTP_EXPORT_ALL" => ""
)
auth.backend = "plain"
auth.backend.plain.userfile = {q(users)}
$HTTP["url"] =~ {private_url} {{
  auth.require = ("" => ("method" => "basic", "realm" => "lockstep-git", "require" => "valid-user"))
}}
"""
