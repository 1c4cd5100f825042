"""`nexus sim devices` and `nexus sim fleet` through the real command line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from pymodbus.client import ModbusTcpClient

from nexus.cli.main import EXIT_CONFIG, main
from nexus.gateway.config import GatewayConfig
from nexus.model.tags import ModbusDevice, OpcUaDevice
from simulators.plant import load_plant
from tests.simulators.plants import free_port_range, plant_data, write_plant

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "scenarios" / "plants" / "demo.yaml"


def test_devices_writes_the_gateway_file(tmp_path: Path) -> None:
    out = tmp_path / "devices.yaml"
    code = main(
        ["sim", "devices", str(DEMO), "--host", "10.0.0.7", "--base-port", "16000", "-o", str(out)]
    )
    assert code == 0
    devices = GatewayConfig.load(out).devices
    assert devices == load_plant(DEMO).with_base_port(16000).gateway_config("10.0.0.7")
    modbus = [d for d in devices if isinstance(d, ModbusDevice)]
    assert modbus[0].port == 16000
    # the OPC UA servers and S7 PLCs follow the Modbus devices, all at the given host
    opcua = [d for d in devices if isinstance(d, OpcUaDevice)]
    assert opcua[0].endpoint == f"opc.tcp://10.0.0.7:{16000 + len(modbus)}"
    assert all(
        "10.0.0.7" in (d.endpoint if isinstance(d, OpcUaDevice) else d.host) for d in devices
    )


def test_devices_prints_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "devices", str(DEMO)]) == 0
    data = yaml.safe_load(capsys.readouterr().out)
    assert len(data["devices"]) == load_plant(DEMO).device_count


def test_an_invalid_plant_is_a_configuration_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = plant_data(base_port=20000)
    data["sites"][0]["lines"][0]["devices"][0]["tags"][0]["signal"] = {"kind": "square"}
    path = write_plant(tmp_path / "bad.yaml", data)
    assert main(["sim", "devices", str(path)]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert f"{path}:" in err
    assert "sites[0].lines[0].devices[0].tags[0].signal" in err
    assert main(["sim", "fleet", str(path)]) == EXIT_CONFIG
    assert main(["sim", "devices", str(DEMO), "--base-port", "0"]) == EXIT_CONFIG


def test_fleet_serves_until_sigterm(tmp_path: Path) -> None:
    base = free_port_range(3)
    plant = write_plant(tmp_path / "plant.yaml", plant_data(base_port=base))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "nexus.cli.main", "sim", "fleet", str(plant), "--speed", "0"],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        lines: list[str] = []
        deadline = time.monotonic() + 30
        while not any("serving until" in line for line in lines):
            assert time.monotonic() < deadline, lines
            line = proc.stderr.readline()
            assert line, f"the fleet exited: {lines}"
            lines.append(line)
        assert any(f"127.0.0.1:{base + 2} unit 5" in line for line in lines)
        client = ModbusTcpClient("127.0.0.1", port=base + 2, timeout=2)
        try:
            assert client.connect()  # type: ignore[no-untyped-call]
            response = client.read_holding_registers(102, count=1, device_id=5)
            assert not response.isError()
            assert response.registers == [0]  # speed 0: t stays 0, the counter at its start
        finally:
            client.close()  # type: ignore[no-untyped-call]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        rest = proc.stderr.read()
        assert "stopped 3 devices" in rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
