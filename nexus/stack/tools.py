"""Helpers shared by the stack services: finding binaries, service users, ports and files.

The stack runs the distribution's own Mosquitto and PostgreSQL instead of bundling them, so
binaries are looked up where Debian installs them: on PATH, in the sbin directories (Mosquitto
lives in /usr/sbin, which is not on every user's PATH) and in /usr/lib/postgresql/VERSION/bin
(Debian keeps initdb and postgres off PATH).

Neither service should run as root: PostgreSQL refuses to, and Mosquitto drops privileges by
itself. When we are root, each service gets an unprivileged system user, and the files it must
read or write are handed over to that user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from nexus.errors import StackError

LOOPBACK = "127.0.0.1"
INSTALL_HINT = "run `make bootstrap` as root, or `apt-get install mosquitto postgresql`"
SBIN_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin")
POSTGRES_LIB = Path("/usr/lib/postgresql")


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find_mosquitto() -> Path:
    """The mosquitto broker binary, from PATH or the sbin directories."""
    found = shutil.which("mosquitto") or shutil.which("mosquitto", path=os.pathsep.join(SBIN_DIRS))
    if found is None:
        raise StackError(f"mosquitto not found: {INSTALL_HINT}")
    return Path(found)


def _version_key(bindir: Path) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in bindir.parent.name.split("."))
    except ValueError:
        return (-1,)


def find_postgres_bindir() -> Path:
    """The directory holding `initdb` and `postgres` of one PostgreSQL version.

    Both must come from the same version (a data directory is tied to its major version), so
    we return a directory rather than two independent paths: the one `initdb` on PATH really
    lives in (following symlinks), else the newest /usr/lib/postgresql/*/bin.
    """
    candidates: list[Path] = []
    on_path = shutil.which("initdb")
    if on_path is not None:
        candidates.append(Path(on_path).resolve().parent)
    candidates.extend(sorted(POSTGRES_LIB.glob("*/bin"), key=_version_key, reverse=True))
    for bindir in candidates:
        if _is_executable(bindir / "initdb") and _is_executable(bindir / "postgres"):
            return bindir
    raise StackError(f"PostgreSQL (initdb, postgres) not found: {INSTALL_HINT}")


@dataclass(frozen=True)
class ServiceUser:
    """An unprivileged account a service runs as when we are root."""

    name: str
    uid: int
    gid: int
    groups: frozenset[int]


def service_user(preferred: str) -> ServiceUser | None:
    """The account to run a service as: None when we are not root (run as ourselves).

    As root we use the account the Debian package created for the service (`postgres`,
    `mosquitto`), falling back to `nobody` on machines without it.
    """
    if os.geteuid() != 0:
        return None
    for name in (preferred, "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        groups = frozenset(os.getgrouplist(name, entry.pw_gid))
        return ServiceUser(name=name, uid=entry.pw_uid, gid=entry.pw_gid, groups=groups)
    raise StackError(f"running as root but neither user {preferred!r} nor 'nobody' exists")


def _can_search(path: Path, user: ServiceUser) -> bool:
    info = path.stat()
    if info.st_uid == user.uid:
        return bool(info.st_mode & stat.S_IXUSR)
    if info.st_gid in user.groups:
        return bool(info.st_mode & stat.S_IXGRP)
    return bool(info.st_mode & stat.S_IXOTH)


def make_service_dir(path: Path, user: ServiceUser | None, *, stack_root: Path) -> None:
    """Create `path` (mode 0700) owned by the service user, and make it reachable for them.

    An unprivileged service can only open files under directories it may search. Directories
    inside `stack_root` are ours, so we grant search permission (o+x, not listing) where it is
    missing; a directory above it that locks the service out is reported instead of changed.
    """
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    if user is None:
        return
    os.chown(path, user.uid, user.gid)
    for parent in path.parents:
        if _can_search(parent, user):
            continue
        if parent == stack_root or stack_root in parent.parents:
            parent.chmod(parent.stat().st_mode | stat.S_IXOTH)
            continue
        raise StackError(
            f"directory {parent} is not accessible to user {user.name!r}, which the stack's "
            f"services run as when started by root; choose a run directory elsewhere "
            f"(e.g. under /tmp) or run `chmod o+x {parent}`"
        )


def temp_run_dir(prefix: str = "nexus-stack-", parent: Path | None = None) -> Path:
    """A fresh, empty run directory (for tests): mkdtemp, plus o+x for the service users.

    Use it instead of pytest's tmp_path when root: the service users cannot enter
    /tmp/pytest-of-root (mode 0700). The caller removes it when done.
    """
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    path.chmod(0o711)
    return path


def chown_tree(path: Path, user: ServiceUser | None) -> None:
    """Give `path` and everything below it to the service user (no-op when not root)."""
    if user is None:
        return
    os.chown(path, user.uid, user.gid)
    if path.is_dir():
        for root, dirs, files in os.walk(path):
            for name in dirs + files:
                os.chown(os.path.join(root, name), user.uid, user.gid, follow_symlinks=False)


def write_private(path: Path, text: str, user: ServiceUser | None = None) -> None:
    """Write a file only its owner may read (mode 0600): it holds credentials."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        if user is not None:
            os.fchown(handle.fileno(), user.uid, user.gid)
        handle.write(text)


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nobody listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def free_port_range(count: int, host: str = LOOPBACK, start: int = 20000) -> int:
    """A base port with `count` consecutive ports free on `host` (each checked by binding)."""
    for base in range(start, 60000, count + 7):
        socks: list[socket.socket] = []
        try:
            for port in range(base, base + count):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(sock)
                sock.bind((host, port))
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise StackError(f"no {count} consecutive free ports on {host}")


def log_tail(*paths: Path, lines: int = 20) -> str:
    """The last lines of each existing log file, to explain why a service failed."""
    parts: list[str] = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            continue
        tail = "\n".join(text.strip().splitlines()[-lines:])
        if tail:
            parts.append(f"--- {path} ---\n{tail}")
    return "\n".join(parts) if parts else "(no log output)"
