"""The Kubernetes target's logic against a fake cluster: the exact kubectl commands of each
fault, which pod a replica index is, errors naming the failed command, faults that cannot be
injected, and the port-forwards' cleanup. No cluster, no kubectl: a fake runner answers the
commands from an in-memory cluster; port-forwards lead to local HTTP servers."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from chaos.errors import NotSupportedOnTarget, TargetError, TargetUnavailable
from chaos.kubernetes.kubectl import CommandResult, Kubectl, KubectlError, run_process
from chaos.kubernetes.target import KubernetesTarget, Pod, select_pod, unsupported
from chaos.scenario import Component, DeviceFaultKind, Link, NetworkSpec, Scenario, Service

PREFIX = ["kubectl", "--context", "kind-test", "--namespace", "nexus"]
SECRET = {
    "POSTGRES_USER": "postgres",
    "POSTGRES_PASSWORD": "pg-secret",
    "NEXUS_DB_USER": "nexus_ingest",
    "MQTT_GATEWAY_USERNAME": "gateway",
    "MQTT_INGEST_USERNAME": "ingest",
    "EMQX_DASHBOARD_PASSWORD": "dash-secret",
}
STATEFUL = {"ingest", "emqx", "timescaledb"}


class FakeProcess:
    """A `kubectl port-forward` that prints `lines` and runs until terminated."""

    def __init__(self, argv: Sequence[str], lines: list[str], *, exits: bool = False) -> None:
        self.argv = list(argv)
        self.stdout = asyncio.StreamReader()
        for line in lines:
            self.stdout.feed_data(line.encode() + b"\n")
        self.returncode: int | None = None
        self.terminated = False
        self._done = asyncio.Event()
        if exits:
            self.stdout.feed_eof()
            self.returncode = 1
            self._done.set()

    def terminate(self) -> None:
        self.terminated = True
        self.returncode = -15
        self.stdout.feed_eof()
        self._done.set()

    def kill(self) -> None:
        self.terminate()

    async def wait(self) -> int:
        await self._done.wait()
        assert self.returncode is not None
        return self.returncode


class FakeCluster:
    """The kind overlay in memory: pods, HPAs that follow their floor at once, the Secret."""

    def __init__(self, ledger_dir: Path, *, gateways: int = 2, ingests: int = 2) -> None:
        self.ledger_dir = ledger_dir
        self.calls: list[list[str]] = []
        self.pods: dict[str, dict[str, Any]] = {}
        self.hpas = {"gateway": [1, 4], "ingest": [2, 4]}
        self.gateway_replicas = gateways
        self.write_ledgers = True
        self.follow_hpa = True
        self.failures: dict[tuple[str, ...], CommandResult] = {}
        self.ports: dict[str, int] = {}
        self.processes: list[FakeProcess] = []
        self._uids = itertools.count(1)
        self._clock = itertools.count(1)
        for i in range(gateways):
            self.add_pod(f"gateway-7f9c-{'abcdefgh'[i]}", "gateway")
        for i in range(ingests):
            self.add_pod(f"ingest-{i}", "ingest")
        for i in range(3):
            self.add_pod(f"emqx-{i}", "emqx")
        self.add_pod("timescaledb-0", "timescaledb")

    def add_pod(self, name: str, app: str) -> None:
        labels = {"app.kubernetes.io/name": app, "app.kubernetes.io/part-of": "nexus-edge"}
        if app in ("gateway", "ingest"):
            labels["nexus.io/mqtt-client"] = "true"
        if app == "ingest":
            labels["nexus.io/historian-client"] = "true"
        self.pods[name] = {
            "metadata": {
                "name": name,
                "uid": f"uid-{next(self._uids)}",
                "labels": labels,
                "creationTimestamp": f"2026-01-01T00:00:{next(self._clock):02d}Z",
            },
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        }
        if app == "gateway" and self.write_ledgers:
            (self.ledger_dir / f"{name}.jsonl").touch()

    def app_pods(self, app: str) -> list[str]:
        return [
            n
            for n, p in self.pods.items()
            if p["metadata"]["labels"]["app.kubernetes.io/name"] == app
        ]

    def set_count(self, app: str, count: int) -> None:
        names = sorted(
            self.app_pods(app), key=lambda n: self.pods[n]["metadata"]["creationTimestamp"]
        )
        for name in names[count:]:
            del self.pods[name]
        for i in range(len(names), count):
            self.add_pod(
                f"{app}-{i}" if app in STATEFUL else f"gateway-new-{next(self._clock)}", app
            )

    async def runner(
        self, argv: Sequence[str], timeout_s: float, stdin: bytes | None
    ) -> CommandResult:
        assert list(argv[:5]) == PREFIX
        args = list(argv[5:])
        self.calls.append(args)
        for prefix, result in self.failures.items():
            if tuple(args[: len(prefix)]) == prefix:
                return result
        return CommandResult(0, self.answer(args), "")

    def answer(self, args: list[str]) -> str:
        match args:
            case ["get", "pods", "-l", _, "-o", "json"]:
                return json.dumps({"items": list(self.pods.values())})
            case ["get", "hpa", "-o", "json"]:
                items = [
                    {
                        "metadata": {"name": name},
                        "spec": {"minReplicas": low, "maxReplicas": high},
                        "status": {
                            "currentReplicas": len(self.app_pods(name)),
                            "desiredReplicas": len(self.app_pods(name)),
                        },
                    }
                    for name, (low, high) in self.hpas.items()
                ]
                return json.dumps({"items": items})
            case ["get", "deployment/gateway", "-o", "json"]:
                return json.dumps({"spec": {"replicas": self.gateway_replicas}})
            case ["get", "secret", "nexus-secrets", "-o", "json"]:
                data = {k: base64.b64encode(v.encode()).decode() for k, v in SECRET.items()}
                return json.dumps({"data": data})
            case ["get", "configmap", "nexus", "-o", "json"]:
                return json.dumps({"data": {"POSTGRES_DB": "nexus_historian"}})
            case ["scale", ref, replicas]:
                count = int(replicas.removeprefix("--replicas="))
                app = ref.split("/")[1]
                if app == "gateway":
                    self.gateway_replicas = count
                self.set_count(app, count)
                return ""
            case ["patch", hpa, "--type=merge", "-p", patch]:
                spec = json.loads(patch)["spec"]
                name = hpa.removeprefix("hpa/")
                self.hpas[name] = [spec["minReplicas"], spec["maxReplicas"]]
                if self.follow_hpa and self.app_pods(name):
                    self.set_count(name, spec["minReplicas"])
                return ""
            case ["delete", "pod", name, *_]:
                app = self.pods.pop(name)["metadata"]["labels"]["app.kubernetes.io/name"]
                self.add_pod(name if app in STATEFUL else f"gateway-new-{next(self._clock)}", app)
                return ""
            case ["label", "pods", "-l", selector, *labels]:
                app = selector.split("=")[1]
                for name in self.app_pods(app):
                    pod_labels = self.pods[name]["metadata"]["labels"]
                    for label in labels:
                        if label.endswith("-"):
                            pod_labels.pop(label[:-1], None)
                        elif "=" in label:
                            key, value = label.split("=")
                            pod_labels[key] = value
                return ""
        raise AssertionError(f"unexpected command {args}")

    async def spawner(self, argv: Sequence[str]) -> FakeProcess:
        assert list(argv[:5]) == PREFIX
        resource, remote = argv[-2], argv[-1]
        port = self.ports.get(resource, 1)
        process = FakeProcess(argv, [f"Forwarding from 127.0.0.1:{port} -> {remote[1:]}"])
        self.processes.append(process)
        return process

    def kubectl(self) -> Kubectl:
        return Kubectl(
            namespace="nexus", context="kind-test", runner=self.runner, spawner=self.spawner
        )

    def commands(self, verb: str) -> list[list[str]]:
        return [c for c in self.calls if c[0] == verb]


def scenario(**changes: Any) -> Scenario:
    document: dict[str, Any] = {
        "name": "fake",
        "plant": "plant.yaml",
        "duration_s": 60,
        "services": {"gateway": {"replicas": 2}, "ingest": {"replicas": 2}},
    }
    document.update(changes)
    return Scenario.model_validate(document)


@pytest.fixture
def cluster(tmp_path: Path) -> FakeCluster:
    return FakeCluster(tmp_path)


def target(cluster: FakeCluster, the_scenario: Scenario | None = None) -> KubernetesTarget:
    return KubernetesTarget(
        the_scenario or scenario(),
        cluster.kubectl(),
        ledger_dir=cluster.ledger_dir,
        poll_s=0.01,
        ready_timeout_s=0.5,
        scale_timeout_s=0.5,
        ledger_timeout_s=0.2,
    )


# -- kubectl ---------------------------------------------------------------------------------


async def test_a_failed_command_is_named_with_its_stderr(cluster: FakeCluster) -> None:
    stderr = 'Error from server (NotFound): pods "ingest-7" not found\n'
    cluster.failures[("delete",)] = CommandResult(1, "", stderr)
    with pytest.raises(KubectlError) as raised:
        await cluster.kubectl().run("delete", "pod", "ingest-7")
    message = str(raised.value)
    assert "`kubectl --context kind-test --namespace nexus delete pod ingest-7`" in message
    assert "exited with status 1" in message
    assert 'pods "ingest-7" not found' in message
    assert isinstance(raised.value, TargetError)


async def test_output_that_is_not_json_is_an_error_naming_the_command(cluster: FakeCluster) -> None:
    cluster.failures[("get", "hpa")] = CommandResult(0, "No resources found", "")
    with pytest.raises(KubectlError, match=r"`kubectl .* get hpa -o json` printed no JSON"):
        await cluster.kubectl().get_json("get", "hpa")


async def test_a_command_that_hangs_is_killed_at_its_timeout() -> None:
    argv = [sys.executable, "-c", "import time; time.sleep(30)"]
    loop = asyncio.get_running_loop()
    began = loop.time()
    with pytest.raises(KubectlError, match=r"timed out after 0.3s"):
        await run_process(argv, 0.3, None)
    assert loop.time() - began < 5


async def test_a_missing_kubectl_is_one_plain_sentence() -> None:
    kubectl = Kubectl(binary="/nonexistent/kubectl")
    with pytest.raises(TargetUnavailable, match="not installed"):
        await kubectl.run("get", "pods")


async def test_the_context_is_optional() -> None:
    assert Kubectl(namespace="n").argv("get", "pods") == [
        "kubectl",
        "--namespace",
        "n",
        "get",
        "pods",
    ]


# -- pod selection ---------------------------------------------------------------------------


def _pods(cluster: FakeCluster) -> list[Pod]:
    return [Pod.from_json(p) for p in cluster.pods.values()]


def test_a_statefulset_replica_is_its_ordinal(cluster: FakeCluster) -> None:
    pods = _pods(cluster)
    assert select_pod(pods, Component.INGEST, 1).name == "ingest-1"
    assert select_pod(pods, Component.BROKER, 2).name == "emqx-2"
    assert select_pod(pods, Component.DATABASE, 0).name == "timescaledb-0"
    with pytest.raises(
        TargetError, match=r"ingest-5: pod ingest-5 does not exist .*ingest-0, ingest-1"
    ):
        select_pod(pods, Component.INGEST, 5)


def test_a_gateway_replica_is_the_ith_oldest_running_pod(cluster: FakeCluster) -> None:
    cluster.pods["gateway-7f9c-a"]["metadata"]["deletionTimestamp"] = "2026-01-01T00:01:00Z"
    cluster.add_pod("gateway-7f9c-z", "gateway")
    pods = _pods(cluster)
    assert select_pod(pods, Component.GATEWAY, 0).name == "gateway-7f9c-b"  # a is terminating
    assert select_pod(pods, Component.GATEWAY, 1).name == "gateway-7f9c-z"
    with pytest.raises(TargetError, match="only 2 gateway pods run"):
        select_pod(pods, Component.GATEWAY, 2)


# -- life cycle ------------------------------------------------------------------------------


async def test_start_restarts_the_gateways_and_sets_the_scenario_floors(
    cluster: FakeCluster,
) -> None:
    (cluster.ledger_dir / "gateway-old.jsonl").write_text("{}\n")
    t = target(cluster, scenario(services={"gateway": {"replicas": 3}, "ingest": {"replicas": 2}}))
    await t.start()
    try:
        changes = [c for c in cluster.calls if c[0] in ("scale", "patch")]
        assert changes == [
            ["scale", "deployment/gateway", "--replicas=0"],
            [
                "patch",
                "hpa/ingest",
                "--type=merge",
                "-p",
                '{"spec":{"minReplicas":2,"maxReplicas":4}}',
            ],
            [
                "patch",
                "hpa/gateway",
                "--type=merge",
                "-p",
                '{"spec":{"minReplicas":3,"maxReplicas":4}}',
            ],
            ["scale", "deployment/gateway", "--replicas=3"],
        ]
        assert cluster.gateway_replicas == 3
        files = t.ledger_files()
        assert len(files) == 3
        assert cluster.ledger_dir / "gateway-old.jsonl" not in files
        await asyncio.sleep(0.05)  # the poller has looked
        assert t.replicas(Service.GATEWAY) == 3
        assert t.replicas(Service.INGEST) == 2
        assert {s.hpa for s in t.hpa_series} == {"gateway", "ingest"}
    finally:
        await t.stop()
    assert cluster.hpas == {"gateway": [1, 4], "ingest": [2, 4]}  # restored
    assert cluster.calls[-1] == ["scale", "deployment/gateway", "--replicas=2"]


async def test_start_without_the_ledger_mount_says_so_and_restores(cluster: FakeCluster) -> None:
    cluster.write_ledgers = False
    t = target(cluster)
    with pytest.raises(TargetUnavailable, match=r"ledger .* did not appear .*extraMounts"):
        await t.start()
    assert cluster.gateway_replicas == 2
    assert cluster.hpas == {"gateway": [1, 4], "ingest": [2, 4]}


async def test_a_missing_ledger_directory_is_named(tmp_path: Path) -> None:
    cluster = FakeCluster(tmp_path)
    t = KubernetesTarget(scenario(), cluster.kubectl(), ledger_dir=tmp_path / "absent")
    with pytest.raises(TargetUnavailable, match=r"absent does not exist"):
        await t.start()
    assert cluster.calls == []


async def test_stop_load_scales_the_gateways_to_zero(cluster: FakeCluster) -> None:
    t = target(cluster)
    await t.stop_load()
    assert cluster.calls[0] == ["scale", "deployment/gateway", "--replicas=0"]
    assert cluster.app_pods("gateway") == []


# -- process faults --------------------------------------------------------------------------


async def test_kill_force_deletes_the_pod_and_waits_for_its_replacement(
    cluster: FakeCluster,
) -> None:
    t = target(cluster)
    old_uid = cluster.pods["ingest-1"]["metadata"]["uid"]
    await t.kill(Component.INGEST, 1)
    assert cluster.commands("delete") == [
        ["delete", "pod", "ingest-1", "--grace-period=0", "--force"]
    ]
    await t.start_component(Component.INGEST, 1)
    assert cluster.pods["ingest-1"]["metadata"]["uid"] != old_uid


async def test_kill_of_gateway_replica_0_deletes_the_oldest_gateway_pod(
    cluster: FakeCluster,
) -> None:
    t = target(cluster)
    await t.kill(Component.GATEWAY, 0)
    await t.kill(Component.BROKER, 1)
    assert cluster.commands("delete") == [
        ["delete", "pod", "gateway-7f9c-a", "--grace-period=0", "--force"],
        ["delete", "pod", "emqx-1", "--grace-period=0", "--force"],
    ]


async def test_a_replacement_that_never_gets_ready_times_out_naming_the_pods(
    cluster: FakeCluster,
) -> None:
    t = target(cluster)
    await t.kill(Component.BROKER, 1)
    cluster.pods["emqx-1"]["status"]["conditions"] = []
    with pytest.raises(
        TargetError, match=r"broker-1 to be ready again; pods now: .*emqx-1 \(not ready\)"
    ):
        await t.start_component(Component.BROKER, 1)


async def test_the_database_is_stopped_by_scaling_its_statefulset(cluster: FakeCluster) -> None:
    t = target(cluster)
    await t.stop_component(Component.DATABASE, 0)
    assert cluster.app_pods("timescaledb") == []
    await t.start_component(Component.DATABASE, 0)
    assert [c for c in cluster.calls if c[0] == "scale"] == [
        ["scale", "statefulset/timescaledb", "--replicas=0"],
        ["scale", "statefulset/timescaledb", "--replicas=1"],
    ]
    assert cluster.app_pods("timescaledb") == ["timescaledb-0"]


async def test_a_graceful_stop_deletes_the_pod_with_its_grace_period(cluster: FakeCluster) -> None:
    t = target(cluster)
    await t.stop_component(Component.INGEST, 0)
    assert cluster.commands("delete") == [
        ["delete", "pod", "ingest-0", "--wait=true", "--timeout=0.5s"]
    ]


async def test_pause_is_not_supported_and_says_why(cluster: FakeCluster) -> None:
    t = target(cluster)
    with pytest.raises(NotSupportedOnTarget) as raised:
        await t.pause(Component.BROKER, 0)
    assert str(raised.value).startswith("pause broker is not supported on the kubernetes target")
    assert cluster.calls == []


def test_unsupported_faults_of_a_scenario_are_listed_before_it_runs() -> None:
    s = scenario(
        timeline=[
            {"at": 1, "action": "pause", "target": "database", "duration": 2},
            {"at": 1, "action": "network", "target": "gateway-broker", "duration": 2,
             "network": {"latency_ms": 200}},
            {"at": 1, "action": "network", "target": "ingest-broker", "duration": 2,
             "network": {"cut": True}},
            {"at": 1, "action": "kill", "target": "ingest", "replica": 1},
        ]
    )  # fmt: skip
    problems = [str(p) for p in unsupported(s)]
    assert len(problems) == 2
    assert problems[0].startswith("pause database is not supported")
    assert problems[1].startswith(
        "network latency 200±0 ms on gateway-broker is not supported on the kubernetes target"
    )


# -- scaling ---------------------------------------------------------------------------------


async def test_scale_sets_the_hpa_floor_and_waits_for_the_hpa(cluster: FakeCluster) -> None:
    t = target(cluster)
    await t._remember()
    await t.scale(Service.INGEST, 4)
    await t.scale(Service.INGEST, 2)
    assert cluster.commands("patch") == [
        ["patch", "hpa/ingest", "--type=merge", "-p", '{"spec":{"minReplicas":4,"maxReplicas":4}}'],
        ["patch", "hpa/ingest", "--type=merge", "-p", '{"spec":{"minReplicas":2,"maxReplicas":4}}'],
    ]
    assert sorted(cluster.app_pods("ingest")) == ["ingest-0", "ingest-1"]


async def test_an_hpa_that_does_not_follow_is_reported_with_its_series(
    cluster: FakeCluster,
) -> None:
    cluster.follow_hpa = False
    t = target(cluster)
    await t._remember()
    with pytest.raises(
        TargetError, match=r"ingest HPA to scale out to 4 ready replicas.*HPA ingest"
    ):
        await t.scale(Service.INGEST, 4)


# -- network and device faults through local HTTP servers ------------------------------------


@pytest.fixture
async def emqx(cluster: FakeCluster) -> AsyncIterator[list[tuple[str, str]]]:
    """A fake EMQX REST API behind the port-forward of svc/emqx; records (method, path)."""
    seen: list[tuple[str, str]] = []

    async def login(request: web.Request) -> web.Response:
        body = await request.json()
        seen.append(("POST", f"/login {body['username']}:{body['password']}"))
        return web.json_response({"token": "tok"})

    async def clients(request: web.Request) -> web.Response:
        assert request.headers["Authorization"] == "Bearer tok"
        seen.append(("GET", request.path_qs))
        user = request.query["username"]
        return web.json_response({"data": [{"clientid": f"{user}-0"}, {"clientid": f"{user}/x"}]})

    async def kick(request: web.Request) -> web.Response:
        seen.append(("DELETE", request.match_info["clientid"]))
        return web.Response(status=204)

    app = web.Application()
    app.add_routes(
        [
            web.post("/api/v5/login", login),
            web.get("/api/v5/clients", clients),
            web.delete("/api/v5/clients/{clientid}", kick),
        ]
    )
    async with _serve(app) as port:
        cluster.ports["svc/emqx"] = port
        yield seen


@pytest.fixture
async def fleet_api(cluster: FakeCluster) -> AsyncIterator[list[dict[str, Any]]]:
    """A fake twin fault API behind the port-forward of deployment/twin; records the bodies."""
    bodies: list[dict[str, Any]] = []

    async def faults(request: web.Request) -> web.Response:
        body = await request.json()
        bodies.append(body)
        if body["device"] == "mash-tun" and body["kind"] == "silent":
            return web.json_response({"error": "OPC UA has no silent", "field": "kind"}, status=409)
        return web.json_response({**body, "epoch_ms": 1})

    app = web.Application()
    app.add_routes([web.post("/faults", faults)])
    async with _serve(app) as port:
        cluster.ports["deployment/twin"] = port
        yield bodies


class _serve:
    def __init__(self, app: web.Application) -> None:
        self.runner = web.AppRunner(app, access_log=None)

    async def __aenter__(self) -> int:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        return int(self.runner.addresses[0][1])

    async def __aexit__(self, *exc: object) -> None:
        await self.runner.cleanup()


async def test_a_broker_cut_unlabels_kicks_and_heals(
    cluster: FakeCluster, emqx: list[tuple[str, str]]
) -> None:
    t = target(cluster)
    await t.network_fault(Link.GATEWAY_BROKER, NetworkSpec(cut=True))
    assert cluster.commands("label") == [
        ["label", "pods", "-l", "app.kubernetes.io/name=gateway", "nexus.io/mqtt-client-"]
    ]
    assert all(
        "nexus.io/mqtt-client" not in cluster.pods[n]["metadata"]["labels"]
        for n in cluster.app_pods("gateway")
    )
    assert emqx == [
        ("POST", "/login admin:dash-secret"),
        ("GET", "/api/v5/clients?username=gateway&limit=10000"),
        ("DELETE", "gateway-0"),
        ("DELETE", "gateway/x"),
    ]
    [forward] = cluster.processes
    assert forward.argv[5:] == ["port-forward", "--address", "127.0.0.1", "svc/emqx", ":18083"]
    await t.network_fault(Link.GATEWAY_BROKER, None)
    assert cluster.commands("label")[-1] == [
        *("label", "pods", "-l", "app.kubernetes.io/name=gateway"),
        *("nexus.io/mqtt-client=true", "--overwrite"),
    ]
    await t.stop()
    assert forward.terminated


async def test_stop_heals_a_cut_link_left_behind(
    cluster: FakeCluster, emqx: list[tuple[str, str]]
) -> None:
    t = target(cluster)
    await t.network_fault(Link.INGEST_BROKER, NetworkSpec(cut=True))
    await t.stop()
    assert all(
        cluster.pods[n]["metadata"]["labels"]["nexus.io/mqtt-client"] == "true"
        for n in cluster.app_pods("ingest")
    )
    assert all(p.terminated for p in cluster.processes)


async def test_latency_is_not_supported_and_nothing_is_changed(cluster: FakeCluster) -> None:
    t = target(cluster)
    with pytest.raises(NotSupportedOnTarget, match="cannot delay or throttle"):
        await t.network_fault(Link.INGEST_DATABASE, NetworkSpec(latency_ms=100))
    assert cluster.calls == []


async def test_device_faults_are_posted_to_the_twin_fault_api(
    cluster: FakeCluster, fleet_api: list[dict[str, Any]]
) -> None:
    from simulators.faults import FaultParams

    t = target(cluster)
    await t.device_fault("filler", DeviceFaultKind.SLOW, True, FaultParams(latency_ms=800))
    await t.device_fault("filler", DeviceFaultKind.SLOW, False)
    await t.device_fault("filler", DeviceFaultKind.RESTART, False)  # one-off: off is a no-op
    assert fleet_api == [
        {"device": "filler", "kind": "slow", "on": True, "latency_ms": 800},
        {"device": "filler", "kind": "slow", "on": False},
    ]
    assert len(cluster.processes) == 1  # one port-forward, reused
    assert cluster.processes[0].argv[5:] == [
        "port-forward", "--address", "127.0.0.1", "deployment/twin", ":8090"
    ]  # fmt: skip
    with pytest.raises(
        TargetError, match=r"silent on for mash-tun\): HTTP 409: .*OPC UA has no silent"
    ):
        await t.device_fault("mash-tun", DeviceFaultKind.SILENT, True)
    await t.stop()
    assert cluster.processes[0].terminated


async def test_a_dead_port_forward_is_replaced(
    cluster: FakeCluster, fleet_api: list[dict[str, Any]]
) -> None:
    t = target(cluster)
    await t.device_fault("filler", DeviceFaultKind.OFFLINE, True)
    cluster.processes[0].terminate()  # the twin pod went away
    await t.device_fault("filler", DeviceFaultKind.OFFLINE, False)
    assert len(cluster.processes) == 2
    await t.stop()
    assert all(p.terminated for p in cluster.processes)


async def test_a_port_forward_that_exits_names_the_command_and_its_output() -> None:
    async def spawner(argv: Sequence[str]) -> FakeProcess:
        return FakeProcess(
            argv, ["error: unable to forward port because pod is not running"], exits=True
        )

    kubectl = Kubectl(namespace="nexus", spawner=spawner)
    with pytest.raises(KubectlError) as raised:
        await kubectl.port_forward("svc/timescaledb", 5432)
    assert (
        "`kubectl --namespace nexus port-forward --address 127.0.0.1 svc/timescaledb :5432`"
        in str(raised.value)
    )
    assert "pod is not running" in str(raised.value)


async def test_stored_count_is_none_while_the_database_cannot_be_reached(
    cluster: FakeCluster,
) -> None:
    cluster.ports["svc/timescaledb"] = 1  # nothing listens there
    t = target(cluster)
    assert await t.stored_count() is None
    await t.stop()
    assert all(p.terminated for p in cluster.processes)


# -- the CLI (python -m chaos.kubernetes) ----------------------------------------------------


def test_the_cli_reports_a_scenario_it_cannot_run_as_unsupported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from chaos.kubernetes.__main__ import main

    plants = Path(__file__).resolve().parents[2] / "scenarios" / "plants"
    path = tmp_path / "pause.yaml"
    path.write_text(
        f"name: pause-broker\nplant: {plants / 'demo.yaml'}\nduration_s: 30\n"
        "timeline:\n  - {at: 5, action: pause, target: broker, duration: 5}\n",
        encoding="utf-8",
    )
    report_dir = tmp_path / "reports"
    code = main([str(path), "--report-dir", str(report_dir), "--kubectl", "/nonexistent/kubectl"])
    out = capsys.readouterr().out
    assert code == 1
    assert "scenario pause-broker: unsupported" in out
    assert "pause broker is not supported on the kubernetes target" in out
    [entry] = json.loads((report_dir / "summary.json").read_text())
    assert entry["status"] == "unsupported"


def test_the_cli_names_an_invalid_scenario_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from chaos.kubernetes.__main__ import main

    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nduration_s: 0\n", encoding="utf-8")
    assert main([str(path), "--report-dir", str(tmp_path)]) == 2
    assert "invalid scenario" in capsys.readouterr().err
