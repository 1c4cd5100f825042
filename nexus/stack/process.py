"""Starting and stopping the stack's service processes, without leaving orphans.

A service runs in one of two modes:

attached (the default, used by tests and `LocalStack`)
    A child of this process, in its own session so that a Ctrl-C in the terminal reaches us
    and not the services: we choose the stopping order (an ingest service must flush its
    last batch before the database goes away). The kernel kills it with SIGKILL if we die,
    even by SIGKILL (PR_SET_PDEATHSIG). That signal fires when the *thread* that forked the
    child exits, so attached services must be spawned from the event loop thread that lives
    as long as they do, never from a worker thread.

detached (`nexus stack up`)
    A grandchild, re-parented to init, in its own session: it outlives the command that
    started it and is later stopped by pid (`nexus stack down`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nexus.errors import StackError
from nexus.stack.tools import ServiceUser

logger = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
KILL_WAIT_SECONDS = 5.0
_POLL_FIRST = 0.01
_POLL_MAX = 0.2
_HAVE_PROCFS = Path("/proc/self/stat").exists()

# Run by a throw-away interpreter: fork the service, report its pid, exit. The service is
# thereby re-parented to init and not a child of ours (no zombie, no asyncio transport that
# would kill it when the event loop closes).
_DETACH_SCRIPT = r"""
import os, signal, sys
uid, gid, argv = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
pid = os.fork()
if pid == 0:
    try:
        os.setsid()
        if uid >= 0:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
        os.dup2(2, 1)
        for sig in (signal.SIGPIPE, signal.SIGXFSZ):
            signal.signal(sig, signal.SIG_DFL)
        os.execv(argv[0], argv)
    except BaseException as exc:
        sys.stderr.write(f"cannot start {argv[0]}: {exc}\n")
        sys.stderr.flush()
    os._exit(127)
print(pid, flush=True)
"""


@functools.cache
def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    prctl: Callable[..., int] = libc.prctl
    return prctl


def die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn that makes the child get SIGKILL when this process dies (Linux only).

    It runs after Popen changed the child's user: the kernel clears the parent-death signal
    on credential changes, so setting it earlier would be lost.
    """
    prctl = _prctl()
    if prctl is None:
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:  # we died between fork and prctl
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


def pid_alive(pid: int, marker: str | None = None) -> bool:
    """Whether `pid` runs (zombies count as dead) and, if given, has `marker` in its cmdline.

    The marker (a path unique to one service, like its config file) guards against a pid that
    was recycled by an unrelated process since we recorded it.
    """
    if not _HAVE_PROCFS:  # not Linux: ask the kernel, without the zombie and marker checks
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    proc = Path(f"/proc/{pid}")
    try:
        stat_line = (proc / "stat").read_text()
    except FileNotFoundError:
        return False
    state = stat_line.rpartition(")")[2].split()[0]
    if state in ("Z", "X"):
        return False
    if marker is None:
        return True
    try:
        cmdline = (proc / "cmdline").read_bytes()
    except FileNotFoundError:
        return False
    # An empty command line means the process is in the middle of execve (its memory is being
    # replaced): that is a service starting, not a recycled pid.
    return not cmdline or marker.encode() in cmdline


class ServiceProcess:
    """A running service process: its pid, whether it runs, and a graceful stop."""

    def __init__(self, name: str, pid: int) -> None:
        self.name = name
        self.pid = pid

    def running(self) -> bool:
        raise NotImplementedError

    @property
    def returncode(self) -> int | None:
        """The exit status when known (attached processes only)."""
        return None

    async def wait(self, seconds: float) -> bool:
        """Wait up to `seconds` for the process to end; True if it has (no exception)."""
        raise NotImplementedError

    def send(self, sig: signal.Signals) -> None:
        if self.running():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    async def stop(self, sig: signal.Signals, grace: float) -> None:
        """Send `sig`, wait up to `grace` seconds, then SIGKILL.

        If we are cancelled while waiting (Ctrl-C), the process is killed at once rather than
        left running: a stop must never be skipped.
        """
        try:
            if not self.running():
                return
            self.send(sig)
            if await self.wait(grace):
                return
            logger.warning(
                "%s (pid %d) still runs %.0fs after %s; killing it",
                self.name,
                self.pid,
                grace,
                sig.name,
            )
            self.send(signal.SIGKILL)
            if not await self.wait(KILL_WAIT_SECONDS):
                raise StackError(f"{self.name} (pid {self.pid}) survived SIGKILL")
        except asyncio.CancelledError:
            self.send(signal.SIGKILL)
            raise


class _AttachedProcess(ServiceProcess):
    def __init__(self, name: str, proc: asyncio.subprocess.Process) -> None:
        super().__init__(name, proc.pid)
        self._proc = proc

    def running(self) -> bool:
        return self._proc.returncode is None

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode

    async def wait(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self._proc.wait(), seconds)
        except TimeoutError:
            return False
        return True


class DetachedProcess(ServiceProcess):
    """A service that is not our child: known by pid only, polled through /proc."""

    def __init__(self, name: str, pid: int, marker: str | None = None) -> None:
        super().__init__(name, pid)
        self.marker = marker

    def running(self) -> bool:
        return pid_alive(self.pid, self.marker)

    async def wait(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        delay = _POLL_FIRST
        while self.running():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            await asyncio.sleep(min(delay, remaining))
            delay = min(delay * 2, _POLL_MAX)
        return True


def _user_kwargs(user: ServiceUser | None) -> dict[str, Any]:
    if user is None:
        return {}
    return {"user": user.uid, "group": user.gid, "extra_groups": []}


def _open_log(path: Path, user: ServiceUser | None) -> int:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    if user is not None:
        os.fchown(fd, user.uid, user.gid)
    return fd


async def spawn(
    name: str,
    argv: list[str],
    *,
    log_path: Path,
    cwd: Path,
    user: ServiceUser | None,
    detached: bool = False,
    marker: str | None = None,
) -> ServiceProcess:
    """Start `argv` with stdout and stderr appended to `log_path`, as `user` when given."""
    log_fd = _open_log(log_path, user)
    try:
        if detached:
            return await _spawn_detached(
                name, argv, log_fd=log_fd, cwd=cwd, user=user, marker=marker
            )
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log_fd,
            stderr=log_fd,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=die_with_parent(),
            **_user_kwargs(user),
        )
    except OSError as exc:
        raise StackError(f"cannot start {name} ({argv[0]}): {exc}") from exc
    finally:
        os.close(log_fd)
    return _AttachedProcess(name, proc)


async def _spawn_detached(
    name: str,
    argv: list[str],
    *,
    log_fd: int,
    cwd: Path,
    user: ServiceUser | None,
    marker: str | None,
) -> ServiceProcess:
    uid, gid = (user.uid, user.gid) if user is not None else (-1, -1)
    helper = await asyncio.create_subprocess_exec(
        sys.executable,
        "-I",
        "-S",
        "-c",
        _DETACH_SCRIPT,
        str(uid),
        str(gid),
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=log_fd,
        cwd=cwd,
        start_new_session=True,
    )
    out, _ = await helper.communicate()
    if helper.returncode != 0:
        raise StackError(f"cannot start {name} detached (helper exited {helper.returncode})")
    return DetachedProcess(name, int(out.decode().strip()), marker)
