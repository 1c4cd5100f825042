"""A small asynchronous wrapper of `kubectl`: one subprocess per command, with a timeout, and
errors that name the command and quote its stderr.

    kubectl = Kubectl(context="kind-nexus-chaos", namespace="nexus")
    pods = await kubectl.get_json("get", "pods", "-l", "app.kubernetes.io/name=ingest")
    forward = await kubectl.port_forward("svc/timescaledb", 5432)   # 127.0.0.1:forward.port
    ...
    await forward.close()

The process launchers are injectable (`runner`, `spawner`): the unit tests drive the target
against a fake cluster that records every command (tests/chaos/test_kubernetes_target.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import shlex
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from chaos.errors import TargetError, TargetUnavailable

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 60.0
STDERR_CHARS = 2000
FORWARDING = re.compile(rb"Forwarding from 127\.0\.0\.1:(\d+) ->")


class KubectlError(TargetError):
    """A kubectl command failed, timed out or printed something unreadable."""

    def __init__(self, argv: Sequence[str], reason: str, stderr: str = "") -> None:
        self.argv = list(argv)
        self.reason = reason
        self.stderr = stderr
        text = f"`{shlex.join(self.argv)}` {reason}"
        detail = stderr.strip()[-STDERR_CHARS:]
        super().__init__(f"{text}: {detail}" if detail else text)


@dataclass(frozen=True)
class CommandResult:
    returncode: int
    stdout: str
    stderr: str


Runner = Callable[[Sequence[str], float, bytes | None], Awaitable[CommandResult]]


class ProcessHandle(Protocol):
    """What a long-running command (port-forward) is to us: asyncio's Process fits."""

    @property
    def stdout(self) -> asyncio.StreamReader | None: ...

    @property
    def returncode(self) -> int | None: ...

    def terminate(self) -> None: ...

    def kill(self) -> None: ...

    async def wait(self) -> int: ...


Spawner = Callable[[Sequence[str]], Awaitable[ProcessHandle]]


def _not_installed(argv: Sequence[str]) -> TargetUnavailable:
    return TargetUnavailable(
        f"{argv[0]} is not installed or not executable (needed for `{shlex.join(argv)}`): "
        "https://kubernetes.io/docs/tasks/tools/"
    )


async def run_process(argv: Sequence[str], timeout_s: float, stdin: bytes | None) -> CommandResult:
    """Run `argv` to completion; killed (and KubectlError) after `timeout_s` seconds."""
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except (FileNotFoundError, PermissionError):
        raise _not_installed(argv) from None
    try:
        out, err = await asyncio.wait_for(process.communicate(stdin), timeout_s)
    except TimeoutError:
        _kill(process)
        await process.wait()
        raise KubectlError(argv, f"timed out after {timeout_s:g}s") from None
    except asyncio.CancelledError:
        _kill(process)
        await process.wait()
        raise
    assert process.returncode is not None
    return CommandResult(
        process.returncode, out.decode(errors="replace"), err.decode(errors="replace")
    )


async def spawn_process(argv: Sequence[str]) -> ProcessHandle:
    """Start a long-running command; its stderr is merged into its stdout."""
    try:
        return await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
    except (FileNotFoundError, PermissionError):
        raise _not_installed(argv) from None


def _kill(process: ProcessHandle) -> None:
    with contextlib.suppress(ProcessLookupError):
        process.kill()


class PortForward:
    """`kubectl port-forward RESOURCE :PORT` as a child process, on a free local port.

    `start()` returns once kubectl printed the local port; its further output (a line per
    connection) is drained in the background; `close()` terminates it (SIGKILL after 5 s).
    A forward dies with its pod: `alive` tells, and the owner starts a new one.
    """

    def __init__(self, argv: Sequence[str], spawner: Spawner, *, ready_timeout_s: float) -> None:
        self.argv = list(argv)
        self._spawner = spawner
        self._ready_timeout_s = ready_timeout_s
        self._process: ProcessHandle | None = None
        self._drain: asyncio.Task[None] | None = None
        self.port = 0

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def start(self) -> int:
        self._process = process = await self._spawner(self.argv)
        assert process.stdout is not None
        output: list[bytes] = []
        try:
            async with asyncio.timeout(self._ready_timeout_s):
                while True:
                    line = await process.stdout.readline()
                    if not line:
                        raise KubectlError(
                            self.argv,
                            "exited before forwarding",
                            b"".join(output).decode(errors="replace"),
                        )
                    output.append(line)
                    match = FORWARDING.search(line)
                    if match:
                        self.port = int(match.group(1))
                        break
        except TimeoutError:
            await self.close()
            raise KubectlError(
                self.argv,
                f"printed no local port within {self._ready_timeout_s:g}s",
                b"".join(output).decode(errors="replace"),
            ) from None
        except BaseException:
            await self.close()
            raise
        self._drain = asyncio.create_task(self._drain_output(process.stdout))
        logger.debug("%s: 127.0.0.1:%d", shlex.join(self.argv), self.port)
        return self.port

    async def _drain_output(self, stream: asyncio.StreamReader) -> None:
        while await stream.readline():
            pass

    async def close(self) -> None:
        """Terminate kubectl (idempotent); SIGKILL if it does not exit within 5 s."""
        drain, self._drain = self._drain, None
        if drain is not None:
            drain.cancel()
            await asyncio.gather(drain, return_exceptions=True)
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 5)
        except TimeoutError:
            _kill(process)
            await process.wait()

    async def __aenter__(self) -> PortForward:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class Kubectl:
    """kubectl against one context (None: the current one) and one namespace."""

    def __init__(
        self,
        *,
        namespace: str = "nexus",
        context: str | None = None,
        binary: str = "kubectl",
        timeout_s: float = DEFAULT_TIMEOUT_S,
        runner: Runner = run_process,
        spawner: Spawner = spawn_process,
    ) -> None:
        self.namespace = namespace
        self.context = context
        self.binary = binary
        self.timeout_s = timeout_s
        self._runner = runner
        self._spawner = spawner

    def argv(self, *args: str) -> list[str]:
        head = [self.binary]
        if self.context is not None:
            head += ["--context", self.context]
        return [*head, "--namespace", self.namespace, *args]

    async def run(
        self, *args: str, timeout_s: float | None = None, stdin: bytes | None = None
    ) -> str:
        """The command's stdout; KubectlError (naming it, with its stderr) unless it exits 0."""
        argv = self.argv(*args)
        result = await self._runner(argv, timeout_s or self.timeout_s, stdin)
        if result.returncode != 0:
            raise KubectlError(argv, f"exited with status {result.returncode}", result.stderr)
        return result.stdout

    async def get_json(self, *args: str, timeout_s: float | None = None) -> Any:
        """`kubectl ARGS -o json`, parsed."""
        out = await self.run(*args, "-o", "json", timeout_s=timeout_s)
        try:
            return json.loads(out)
        except json.JSONDecodeError as exc:
            raise KubectlError(self.argv(*args, "-o", "json"), f"printed no JSON ({exc})") from None

    async def port_forward(
        self, resource: str, remote_port: int, *, ready_timeout_s: float = 30.0
    ) -> PortForward:
        """A running `kubectl port-forward RESOURCE :REMOTE_PORT` on 127.0.0.1 (close it)."""
        argv = self.argv("port-forward", "--address", "127.0.0.1", resource, f":{remote_port}")
        forward = PortForward(argv, self._spawner, ready_timeout_s=ready_timeout_s)
        await forward.start()
        return forward
