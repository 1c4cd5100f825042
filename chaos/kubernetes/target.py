"""The Kubernetes target: the scenarios against NEXUS Edge deployed by the kind overlay
(deploy/k8s/overlays/kind, namespace `nexus`), driven with kubectl only.

What each fault is here:

- kill: `kubectl delete pod NAME --grace-period=0 --force` (SIGKILL); the controller starts a
  replacement at once (same name for a StatefulSet pod, a new one for a gateway). With a
  `duration`, start_component waits until the replacement is Ready.
- stop / restart: a graceful `kubectl delete pod NAME` (SIGTERM and the pod's grace period);
  the database is different: its StatefulSet is scaled to 0 and, after `duration`, to 1 again,
  so the historian is really away for the duration.
- pause: not supported (NotSupportedOnTarget): SIGSTOP sent from inside a container cannot stop
  its PID 1 (the kernel ignores it) and the runtime's freezer is not reachable through the API.
- scale: the HorizontalPodAutoscaler owns the replica count, so a scale sets the HPA's floor
  (`minReplicas`, and `maxReplicas` if it was lower) and waits until the HPA has brought the
  ready replicas up to it (out) or the running ones down to it (in, at the HPA's own pace).
- network: `cut` takes the pods of the link's client side out of the NetworkPolicy that lets
  them reach the server (the label nexus.io/mqtt-client or nexus.io/historian-client is
  removed) and closes their established connections, which a CNI may keep allowing (EMQX's
  REST API kicks the MQTT clients; pg_terminate_backend ends the database sessions); healing
  puts the label back. `reset` only closes the connections. Latency, jitter and bandwidth are
  not supported: a NetworkPolicy allows or denies, it cannot delay or throttle.
- device: the twin fleet's fault HTTP API (simulators/api.py) through a port-forward.

The ledger: the gateway pods write their acknowledgement ledger to a hostPath volume
(/var/lib/nexus-ledger on the node) that the kind nodes mount from one directory of this
machine (deploy/kind/cluster.yaml, extraMounts), one file per pod: `<pod>.jsonl`. A killed
gateway's replacement is a new pod, hence a new file. The runner reads the files directly,
while the pods write them, so no ledger is lost with its pod. The historian's rows are read
through a port-forward to TimescaleDB with the superuser credentials of the Secret.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import asyncpg

from chaos.errors import NotSupportedOnTarget, TargetError, TargetUnavailable
from chaos.kubernetes.kubectl import Kubectl, PortForward
from chaos.ledger import LedgerCounter, StoredRow, fetch_stored_rows
from chaos.scenario import (
    Action,
    Component,
    DeviceFaultKind,
    Link,
    NetworkSpec,
    Scenario,
    Service,
)
from simulators.faults import ONE_OFF, FaultParams, request_body

logger = logging.getLogger(__name__)

TARGET = "kubernetes"
PART_OF = "app.kubernetes.io/part-of=nexus-edge"
NAME_LABEL = "app.kubernetes.io/name"
SECRET = "nexus-secrets"
CONFIGMAP = "nexus"
LEDGER_DIR_ENV = "NEXUS_KIND_LEDGER_DIR"
DEFAULT_LEDGER_DIR = Path("/tmp/nexus-kind-ledger")
"""Where this machine sees the gateways' ledgers: the hostPath of deploy/kind/cluster.yaml."""
NODE_LEDGER_DIR = "/var/lib/nexus-ledger"
FAULT_API_PORT = 8090
EMQX_API_PORT = 18083
POSTGRES_PORT = 5432
EMQX_API_USER = "admin"  # EMQX's default dashboard user; its password is in the Secret


@dataclass(frozen=True)
class Workload:
    kind: str  # deployment | statefulset
    name: str  # also the pods' app.kubernetes.io/name

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.name}"


WORKLOADS: dict[Component, Workload] = {
    Component.GATEWAY: Workload("deployment", "gateway"),
    Component.INGEST: Workload("statefulset", "ingest"),
    Component.BROKER: Workload("statefulset", "emqx"),
    Component.DATABASE: Workload("statefulset", "timescaledb"),
}
HPAS: dict[Service, str] = {Service.GATEWAY: "gateway", Service.INGEST: "ingest"}
SERVICE_COMPONENT = {Service.GATEWAY: Component.GATEWAY, Service.INGEST: Component.INGEST}

MQTT_USER_KEY = {
    Link.GATEWAY_BROKER: "MQTT_GATEWAY_USERNAME",
    Link.INGEST_BROKER: "MQTT_INGEST_USERNAME",
}
LINK_LABELS: dict[Link, tuple[str, str]] = {
    # link → (the client pods' app name, the label their server's NetworkPolicy admits)
    Link.GATEWAY_BROKER: ("gateway", "nexus.io/mqtt-client"),
    Link.INGEST_BROKER: ("ingest", "nexus.io/mqtt-client"),
    Link.INGEST_DATABASE: ("ingest", "nexus.io/historian-client"),
}


# -- what cannot be done here ----------------------------------------------------------------


def pause_unsupported(component: Component) -> NotSupportedOnTarget:
    return NotSupportedOnTarget(
        TARGET,
        f"pause {component.value}",
        "a pod cannot be frozen through the Kubernetes API (SIGSTOP from inside a container "
        "is ignored by its PID 1, and the runtime's freezer is not exposed); use kill or stop",
    )


def network_unsupported(link: Link, spec: NetworkSpec) -> NotSupportedOnTarget | None:
    if not (spec.latency_ms or spec.jitter_ms or spec.bandwidth_kbps is not None):
        return None
    return NotSupportedOnTarget(
        TARGET,
        f"network {spec.describe} on {link.value}",
        "only cut and reset can be injected (a NetworkPolicy allows or denies, it cannot delay "
        "or throttle; latency needs netem in the nodes, e.g. Chaos Mesh)",
    )


def unsupported(scenario: Scenario) -> list[NotSupportedOnTarget]:
    """Every fault of `scenario` this target cannot inject (empty: it can run here)."""
    problems: list[NotSupportedOnTarget] = []
    for service in Service:
        if getattr(scenario.services, service.value).replicas < 1:
            problems.append(
                NotSupportedOnTarget(
                    TARGET, f"{service.value} replicas 0", "an HPA's floor is at least 1"
                )
            )
    for fault in scenario.timeline:
        if fault.action is Action.PAUSE:
            problems.append(pause_unsupported(fault.component))
        elif fault.action is Action.NETWORK and fault.network is not None:
            problem = network_unsupported(fault.link, fault.network)
            if problem is not None:
                problems.append(problem)
        elif fault.action is Action.SCALE and (fault.replicas or 0) < 1:
            problems.append(
                NotSupportedOnTarget(
                    TARGET, fault.label(), "an HPA's floor is at least 1 (minReplicas)"
                )
            )
    return problems


# -- what the cluster shows ------------------------------------------------------------------


@dataclass(frozen=True)
class Pod:
    name: str
    app: str
    uid: str
    ready: bool
    terminating: bool
    created: str
    labels: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> Pod:
        meta = item.get("metadata", {})
        labels = dict(meta.get("labels") or {})
        conditions = (item.get("status") or {}).get("conditions") or []
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
        return cls(
            name=str(meta.get("name", "")),
            app=labels.get(NAME_LABEL, ""),
            uid=str(meta.get("uid", "")),
            ready=ready,
            terminating=meta.get("deletionTimestamp") is not None,
            created=str(meta.get("creationTimestamp", "")),
            labels=labels,
        )

    def describe(self) -> str:
        state = "terminating" if self.terminating else ("ready" if self.ready else "not ready")
        return f"{self.name} ({state})"


def parse_pods(document: Mapping[str, Any]) -> list[Pod]:
    return [Pod.from_json(item) for item in document.get("items", [])]


def live(pods: list[Pod], app: str) -> list[Pod]:
    """The pods of `app` that are not being deleted, oldest first (then by name)."""
    return sorted(
        (p for p in pods if p.app == app and not p.terminating), key=lambda p: (p.created, p.name)
    )


def ready_count(pods: list[Pod], app: str) -> int:
    return sum(1 for p in live(pods, app) if p.ready)


def select_pod(pods: list[Pod], component: Component, replica: int) -> Pod:
    """The pod of replica `replica` of `component`.

    StatefulSet pods have an ordinal: replica i is `<name>-i` (ingest-1, emqx-2, timescaledb-0).
    Gateway pods (a Deployment) have none: replica i is the i-th oldest running gateway pod.
    """
    workload = WORKLOADS[component]
    running = live(pods, workload.name)
    names = ", ".join(p.name for p in running) or "none"
    if workload.kind == "statefulset":
        wanted = f"{workload.name}-{replica}"
        for pod in running:
            if pod.name == wanted:
                return pod
        raise TargetError(
            f"{component.value}-{replica}: pod {wanted} does not exist ({workload.name} pods: "
            f"{names})"
        )
    if replica >= len(running):
        raise TargetError(
            f"{component.value}-{replica}: only {len(running)} {workload.name} pods run ({names})"
        )
    return running[replica]


@dataclass(frozen=True)
class HpaSample:
    """An HPA's state at `elapsed_s` seconds into the scenario (the report's replica series)."""

    elapsed_s: float
    hpa: str
    current: int
    desired: int
    min: int
    max: int


def parse_hpas(document: Mapping[str, Any], elapsed_s: float) -> list[HpaSample]:
    samples = []
    for item in document.get("items", []):
        spec, status = item.get("spec") or {}, item.get("status") or {}
        samples.append(
            HpaSample(
                elapsed_s=round(elapsed_s, 1),
                hpa=str(item.get("metadata", {}).get("name", "")),
                current=int(status.get("currentReplicas", 0)),
                desired=int(status.get("desiredReplicas", 0)),
                min=int(spec.get("minReplicas", 1)),
                max=int(spec.get("maxReplicas", 0)),
            )
        )
    return samples


# -- the target ------------------------------------------------------------------------------


class KubernetesTarget:
    """Runs `scenario` against the kind overlay in `kubectl.namespace`.

    `restore=False` (the CLI's --keep) leaves the HPA floors and the gateway replicas as the
    run left them; cut links are healed and port-forwards closed whatever it is.
    """

    def __init__(
        self,
        scenario: Scenario,
        kubectl: Kubectl,
        *,
        ledger_dir: Path = DEFAULT_LEDGER_DIR,
        poll_s: float = 1.0,
        ready_timeout_s: float = 300.0,
        scale_timeout_s: float = 600.0,
        ledger_timeout_s: float = 30.0,
        restore: bool = True,
    ) -> None:
        self.scenario = scenario
        self.kubectl = kubectl
        self.ledger_dir = ledger_dir
        self.poll_s = poll_s
        self.ready_timeout_s = ready_timeout_s
        self.scale_timeout_s = scale_timeout_s
        self.ledger_timeout_s = ledger_timeout_s
        self.restore = restore
        self.hpa_series: list[HpaSample] = []
        self._pods: list[Pod] = []
        self._t0: float | None = None
        self._poller: asyncio.Task[None] | None = None
        self._ignored: set[Path] = set()
        self._counter = LedgerCounter()
        self._hpa_specs: dict[str, tuple[int, int]] = {}
        self._gateway_replicas: int | None = None
        self._taken: dict[tuple[Component, int], tuple[str, int]] = {}
        self._cut: set[Link] = set()
        self._secret: dict[str, str] | None = None
        self._database_name: str | None = None
        self._forwards: dict[str, PortForward] = {}
        self._forward_lock = asyncio.Lock()
        self._db: asyncpg.Connection | None = None
        self._db_lock = asyncio.Lock()

    # -- life cycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Fresh gateways, the scenario's floors, everything ready; on failure, restored."""
        problems = unsupported(self.scenario)
        if problems:
            raise problems[0]
        try:
            await self._start()
        except BaseException:
            with contextlib.suppress(Exception):
                await self.stop()
            raise

    async def _start(self) -> None:
        self._t0 = asyncio.get_running_loop().time()
        if self.scenario.load.poll_interval_ms is not None:
            logger.warning(
                "load.poll_interval_ms is ignored on Kubernetes: the gateway-devices ConfigMap "
                "sets the poll intervals"
            )
        if not self.ledger_dir.is_dir():
            raise TargetUnavailable(
                f"the ledger directory {self.ledger_dir} does not exist: it must be the "
                f"directory the kind nodes mount at {NODE_LEDGER_DIR} (deploy/kind/cluster.yaml, "
                f"extraMounts; --ledger-dir or {LEDGER_DIR_ENV})"
            )
        await self._remember()
        # Fresh gateways per scenario: the previous ones stop gracefully (ledgers complete) and
        # their files are left out of this run.
        await self._scale(WORKLOADS[Component.GATEWAY], 0)
        await self._until("the gateway pods to be gone", lambda p: not _all(p, "gateway"))
        self._ignored = set(self.ledger_dir.glob("*.jsonl"))
        await self._set_floor(Service.INGEST, self.scenario.services.ingest.replicas)
        gateways = self.scenario.services.gateway.replicas
        await self._set_floor(Service.GATEWAY, gateways)
        await self._scale(WORKLOADS[Component.GATEWAY], gateways)
        ingests = self.scenario.services.ingest.replicas

        def ready(pods: list[Pod]) -> bool:
            return (
                ready_count(pods, "gateway") >= gateways
                and ready_count(pods, "ingest") >= ingests
                and ready_count(pods, "timescaledb") >= 1
                and ready_count(pods, "emqx") >= 1
            )

        pods = await self._until("the pipeline to be ready", ready)
        await self._check_ledgers(live(pods, "gateway"))
        self._poller = asyncio.create_task(self._poll(), name="kubernetes:poll")

    async def _remember(self) -> None:
        """The HPAs' floors and ceilings and the gateways' count, to restore at the end."""
        document = await self.kubectl.get_json("get", "hpa")
        for item in document.get("items", []):
            spec = item.get("spec") or {}
            name = str(item.get("metadata", {}).get("name", ""))
            self._hpa_specs[name] = (int(spec.get("minReplicas", 1)), int(spec["maxReplicas"]))
        for service, name in HPAS.items():
            if name not in self._hpa_specs:
                raise TargetError(
                    f"no HorizontalPodAutoscaler {name!r} in namespace {self.kubectl.namespace} "
                    f"({service.value}): is the kind overlay applied?"
                )
        deployment = await self.kubectl.get_json("get", WORKLOADS[Component.GATEWAY].ref)
        self._gateway_replicas = int((deployment.get("spec") or {}).get("replicas", 1))

    async def _check_ledgers(self, gateways: list[Pod]) -> None:
        """Every gateway pod writes `<pod>.jsonl` into the ledger directory, or this fails."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.ledger_timeout_s
        while True:
            missing = [p for p in gateways if not (self.ledger_dir / f"{p.name}.jsonl").exists()]
            if not missing:
                return
            if loop.time() >= deadline:
                path = self.ledger_dir / f"{missing[0].name}.jsonl"
                raise TargetUnavailable(
                    f"gateway pod {missing[0].name} is ready but its ledger {path} did not "
                    f"appear within {self.ledger_timeout_s:g}s: the kind nodes must mount "
                    f"{self.ledger_dir} at {NODE_LEDGER_DIR} (deploy/kind/cluster.yaml "
                    "extraMounts; a cluster created without them must be deleted and created "
                    "again)"
                )
            await asyncio.sleep(min(self.poll_s, 0.5) or 0.01)

    async def stop_load(self) -> None:
        """The gateways scaled to 0: each drains and closes its ledger (an HPA does not act
        on a workload at 0 replicas)."""
        await self._scale(WORKLOADS[Component.GATEWAY], 0)
        await self._until("the gateway pods to stop", lambda p: not _all(p, "gateway"))

    async def stop(self) -> None:
        """Heal, close, restore; each step runs whatever the others do."""
        steps: list[Callable[[], Any]] = [self._stop_poller, self._heal_all, self._close_db]
        steps.append(self._close_forwards)
        if self.restore:
            steps.append(self._restore)
        errors: list[BaseException] = []
        for step in steps:
            try:
                await step()
            except Exception as exc:
                logger.exception("stopping the Kubernetes target")
                errors.append(exc)
        if errors:
            raise errors[0]

    async def _stop_poller(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
            self._poller = None

    async def _heal_all(self) -> None:
        for link in sorted(self._cut):
            await self.network_fault(link, None)

    async def _restore(self) -> None:
        for name, (low, high) in self._hpa_specs.items():
            await self._patch_hpa(name, low, high)
        if self._gateway_replicas:
            await self._scale(WORKLOADS[Component.GATEWAY], self._gateway_replicas)

    # -- observation -------------------------------------------------------------------------

    def _elapsed(self) -> float:
        return asyncio.get_running_loop().time() - (self._t0 or 0.0)

    async def refresh(self) -> list[Pod]:
        """The namespace's pods now (also what replicas() answers from)."""
        self._pods = parse_pods(await self.kubectl.get_json("get", "pods", "-l", PART_OF))
        return self._pods

    async def _poll(self) -> None:
        """Pods and HPAs once per `poll_s`: replicas() must be cheap, it is called every second."""
        while True:
            try:
                await self.refresh()
                hpas = await self.kubectl.get_json("get", "hpa")
                self.hpa_series.extend(parse_hpas(hpas, self._elapsed()))
            except TargetError as exc:
                logger.warning("observing the cluster: %s", exc)
            await asyncio.sleep(self.poll_s)

    def replicas(self, service: Service) -> int:
        return ready_count(self._pods, WORKLOADS[SERVICE_COMPONENT[service]].name)

    def ledger_files(self) -> list[Path]:
        return sorted(p for p in self.ledger_dir.glob("*.jsonl") if p not in self._ignored)

    def published(self) -> int:
        return self._counter.update(self.ledger_files())

    def hpa_series_json(self) -> list[dict[str, Any]]:
        return [asdict(sample) for sample in self.hpa_series]

    async def _until(
        self, what: str, check: Callable[[list[Pod]], bool], timeout_s: float | None = None
    ) -> list[Pod]:
        """Poll the pods until `check` holds; TargetError naming `what` and the pods if not."""
        timeout = timeout_s if timeout_s is not None else self.ready_timeout_s
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            pods = await self.refresh()
            if check(pods):
                return pods
            if loop.time() >= deadline:
                state = ", ".join(p.describe() for p in pods) or "no pods"
                raise TargetError(f"waited {timeout:g}s for {what}; pods now: {state}")
            await asyncio.sleep(self.poll_s)

    # -- process faults ----------------------------------------------------------------------

    async def kill(self, component: Component, replica: int) -> None:
        pods = await self.refresh()
        pod = select_pod(pods, component, replica)
        app = WORKLOADS[component].name
        self._taken[(component, replica)] = (pod.uid, len(live(pods, app)))
        await self.kubectl.run("delete", "pod", pod.name, "--grace-period=0", "--force")
        await self._until(f"pod {pod.name} to be killed", lambda p: _gone(p, pod.uid))

    async def stop_component(self, component: Component, replica: int) -> None:
        pods = await self.refresh()
        if component is Component.DATABASE:
            pod = select_pod(pods, component, replica)
            self._taken[(component, replica)] = (pod.uid, 1)
            await self._scale(WORKLOADS[component], 0)
            await self._until("the database pod to stop", lambda p: not _all(p, "timescaledb"))
            return
        pod = select_pod(pods, component, replica)
        self._taken[(component, replica)] = (pod.uid, len(live(pods, pod.app)))
        timeout = f"--timeout={self.ready_timeout_s:g}s"
        await self.kubectl.run(
            "delete", "pod", pod.name, "--wait=true", timeout, timeout_s=self.ready_timeout_s + 10
        )
        await self._until(f"pod {pod.name} to stop", lambda p: _gone(p, pod.uid))

    async def start_component(self, component: Component, replica: int) -> None:
        """Back as it was: the database scaled to 1 again; others wait for their replacement."""
        workload = WORKLOADS[component]
        old_uid, count = self._taken.pop((component, replica), ("", 1))
        if component is Component.DATABASE:
            await self._scale(workload, 1)
        name = f"{workload.name}-{replica}" if workload.kind == "statefulset" else None

        def back(pods: list[Pod]) -> bool:
            if ready_count(pods, workload.name) < count:
                return False
            if name is None:
                return True
            return any(p.name == name and p.ready and p.uid != old_uid for p in pods)

        await self._until(f"{component.value}-{replica} to be ready again", back)

    async def pause(self, component: Component, replica: int) -> None:
        raise pause_unsupported(component)

    async def resume(self, component: Component, replica: int) -> None:
        raise pause_unsupported(component)

    # -- scaling -----------------------------------------------------------------------------

    async def _scale(self, workload: Workload, replicas: int) -> None:
        await self.kubectl.run("scale", workload.ref, f"--replicas={replicas}")

    async def _patch_hpa(self, name: str, low: int, high: int) -> None:
        patch = f'{{"spec":{{"minReplicas":{low},"maxReplicas":{high}}}}}'
        await self.kubectl.run("patch", f"hpa/{name}", "--type=merge", "-p", patch)

    async def _set_floor(self, service: Service, replicas: int) -> None:
        name = HPAS[service]
        _, high = self._hpa_specs[name]
        await self._patch_hpa(name, replicas, max(high, replicas))

    async def scale(self, service: Service, replicas: int) -> None:
        """The HPA's floor set to `replicas`; returns when the HPA has followed it."""
        app = WORKLOADS[SERVICE_COMPONENT[service]].name
        before = len(live(await self.refresh(), app))
        await self._set_floor(service, replicas)
        if replicas >= before:
            what = f"the {app} HPA to scale out to {replicas} ready replicas"

            def reached(pods: list[Pod]) -> bool:
                return ready_count(pods, app) >= replicas
        else:
            what = f"the {app} HPA to scale in to {replicas} replicas"

            def reached(pods: list[Pod]) -> bool:
                return len(live(pods, app)) <= replicas

        try:
            await self._until(what, reached, self.scale_timeout_s)
        except TargetError as exc:
            tail = [s for s in self.hpa_series if s.hpa == HPAS[service]][-5:]
            series = "; ".join(f"t={s.elapsed_s:g}s {s.current}→{s.desired}" for s in tail)
            raise TargetError(f"{exc} (HPA {HPAS[service]}: {series or 'no samples'})") from None

    # -- network faults ----------------------------------------------------------------------

    async def network_fault(self, link: Link, spec: NetworkSpec | None) -> None:
        app, label = LINK_LABELS[link]
        if spec is None:
            if link in self._cut:
                await self.kubectl.run(
                    "label", "pods", "-l", f"{NAME_LABEL}={app}", f"{label}=true", "--overwrite"
                )
                self._cut.discard(link)
            return
        problem = network_unsupported(link, spec)
        if problem is not None:
            raise problem
        if spec.cut:
            await self.kubectl.run("label", "pods", "-l", f"{NAME_LABEL}={app}", f"{label}-")
            self._cut.add(link)
        if spec.cut or spec.reset:
            await self._break_connections(link)

    async def _break_connections(self, link: Link) -> None:
        """Close the link's established connections (a CNI may let them live on)."""
        secret = await self.secret()
        if link is Link.INGEST_DATABASE:
            user = secret["NEXUS_DB_USER"]
            conn = await self._conn()
            ended = await conn.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE usename = $1 AND pid <> pg_backend_pid()",
                user,
            )
            logger.info("%s: ended %s database sessions of %s", link.value, ended, user)
            return
        await self.kick_mqtt_clients(secret[MQTT_USER_KEY[link]], secret["EMQX_DASHBOARD_PASSWORD"])

    async def kick_mqtt_clients(self, username: str, api_password: str) -> int:
        """Disconnect every MQTT client of `username` through EMQX's REST API; how many."""
        port = await self._forward("svc/emqx", EMQX_API_PORT)
        base = f"http://127.0.0.1:{port}/api/v5"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            login = {"username": EMQX_API_USER, "password": api_password}
            body = await _request(http, "POST", f"{base}/login", "EMQX login", json=login)
            headers = {"Authorization": f"Bearer {body['token']}"}
            listing = await _request(
                http,
                "GET",
                f"{base}/clients?username={quote(username)}&limit=10000",
                "EMQX client list",
                headers=headers,
            )
            clients = [str(c["clientid"]) for c in listing.get("data", [])]
            for client in clients:
                await _request(
                    http,
                    "DELETE",
                    f"{base}/clients/{quote(client, safe='')}",
                    f"EMQX kick of {client}",
                    headers=headers,
                )
        logger.info("kicked %d MQTT clients of %s", len(clients), username)
        return len(clients)

    # -- device faults -----------------------------------------------------------------------

    async def device_fault(
        self, device: str, kind: DeviceFaultKind, on: bool, params: FaultParams | None = None
    ) -> None:
        """POST the fault to the twin's fault API, kind and parameters as given (the API
        validates them); restart and session_kill happen once: their off is a no-op."""
        if kind.value in ONE_OFF and not on:
            return
        body = request_body(device, kind.value, on, params)
        port = await self._forward("deployment/twin", FAULT_API_PORT)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            await _request(
                http,
                "POST",
                f"http://127.0.0.1:{port}/faults",
                f"the twin's fault API ({kind.value} {'on' if on else 'off'} for {device})",
                json=body,
            )

    # -- the historian -----------------------------------------------------------------------

    async def secret(self) -> dict[str, str]:
        """The Secret nexus-secrets, decoded (read once, never logged)."""
        if self._secret is None:
            document = await self.kubectl.get_json("get", "secret", SECRET)
            data = document.get("data") or {}
            self._secret = {k: base64.b64decode(v).decode() for k, v in data.items()}
        return self._secret

    async def _database(self) -> str:
        if self._database_name is None:
            document = await self.kubectl.get_json("get", "configmap", CONFIGMAP)
            self._database_name = str((document.get("data") or {}).get("POSTGRES_DB", "postgres"))
        return self._database_name

    async def _forward(self, resource: str, port: int) -> int:
        """A live port-forward to `resource`:`port` (a new one if the last died with its pod)."""
        key = f"{resource}:{port}"
        async with self._forward_lock:
            forward = self._forwards.get(key)
            if forward is not None and forward.alive:
                return forward.port
            if forward is not None:
                await forward.close()
            self._forwards[key] = forward = await self.kubectl.port_forward(resource, port)
            return forward.port

    async def _close_forwards(self) -> None:
        forwards, self._forwards = list(self._forwards.values()), {}
        await asyncio.gather(*(f.close() for f in forwards), return_exceptions=True)

    async def _conn(self) -> asyncpg.Connection:
        async with self._db_lock:
            if self._db is None or self._db.is_closed():
                secret = await self.secret()
                port = await self._forward("svc/timescaledb", POSTGRES_PORT)
                self._db = await asyncio.wait_for(
                    asyncpg.connect(
                        host="127.0.0.1",
                        port=port,
                        user=secret["POSTGRES_USER"],
                        password=secret["POSTGRES_PASSWORD"],
                        database=await self._database(),
                    ),
                    5,
                )
            return self._db

    async def _close_db(self) -> None:
        if self._db is not None:
            conn, self._db = self._db, None
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 5)

    async def stored_count(self) -> int | None:
        try:
            conn = await self._conn()
            return int(await asyncio.wait_for(conn.fetchval("SELECT count(*) FROM metrics"), 5))
        except (OSError, TimeoutError, TargetError, asyncpg.PostgresError, asyncpg.InterfaceError):
            await self._close_db()
            return None

    async def stored_rows(self) -> list[StoredRow]:
        return await fetch_stored_rows(await self._conn())


def _all(pods: list[Pod], app: str) -> list[Pod]:
    """Every pod of `app`, terminating ones included."""
    return [p for p in pods if p.app == app]


def _gone(pods: list[Pod], uid: str) -> bool:
    return not any(p.uid == uid and not p.terminating for p in pods)


async def _request(
    http: aiohttp.ClientSession, method: str, url: str, what: str, **kwargs: Any
) -> Any:
    """One HTTP call; TargetError naming `what` and the answer unless it is 2xx."""
    try:
        async with http.request(method, url, **kwargs) as response:
            text = await response.text()
            if response.status >= 300:
                raise TargetError(f"{what}: HTTP {response.status}: {text.strip()[:500]}")
            if not text.strip():
                return {}
            return await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise TargetError(f"{what}: {type(exc).__name__}: {exc}") from None
