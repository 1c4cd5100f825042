"""OPC UA with Basic256Sha256 (sign and encrypt) and a user name and password from the
environment, against an asyncua server that accepts nothing else."""

from __future__ import annotations

import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from asyncua import Server, ua
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.user_managers import UserManager
from cryptography.x509.oid import ExtendedKeyUsageOID

from nexus.errors import DeviceError
from nexus.gateway.opcua.adapter import OpcUaAdapter
from nexus.model.payload import Quality
from nexus.model.tags import OpcUaDevice
from nexus.stack.tools import free_port, temp_run_dir

pytestmark = pytest.mark.integration


class Passwords(UserManager):  # type: ignore[misc]  # asyncua is untyped here
    def get_user(
        self,
        iserver: Any,
        username: str | None = None,
        password: str | None = None,
        certificate: Any = None,
    ) -> User | None:
        if (username, password) == ("operator", "s3cret"):
            return User(role=UserRole.User)
        return None


@pytest.fixture(scope="module")
async def secure_server() -> AsyncIterator[tuple[str, Path]]:
    work = temp_run_dir(prefix="nexus-opcua-security-")
    host = socket.gethostname()
    await setup_self_signed_certificate(
        work / "server-key.pem",
        work / "server-cert.der",
        "urn:test:secure-server",
        host,
        [ExtendedKeyUsageOID.SERVER_AUTH],
        {"commonName": "test server"},
    )
    await setup_self_signed_certificate(
        work / "gateway-key.pem",
        work / "gateway-cert.der",
        "urn:nexus-edge:gateway",
        host,
        [ExtendedKeyUsageOID.CLIENT_AUTH],
        {"commonName": "gateway"},
    )
    server = Server(user_manager=Passwords())
    await server.init()
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}"
    server.set_endpoint(endpoint)
    await server.set_application_uri("urn:test:secure-server")
    server.set_security_policy([ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt])
    server.set_identity_tokens([ua.UserNameIdentityToken])
    await server.load_certificate(str(work / "server-cert.der"))
    await server.load_private_key(str(work / "server-key.pem"))
    ns = await server.register_namespace("urn:test:secure")
    await server.nodes.objects.add_variable(
        ua.NodeId("level", ns), "level", ua.Variant(42.5, ua.VariantType.Double)
    )
    await server.start()
    try:
        yield endpoint, work
    finally:
        await server.stop()
        shutil.rmtree(work, ignore_errors=True)


def device(endpoint: str, work: Path, **extra: Any) -> OpcUaDevice:
    return OpcUaDevice.model_validate(
        {
            "name": "secure",
            "site": "s",
            "line": "l",
            "protocol": "opcua",
            "endpoint": endpoint,
            "mode": "polling",
            "timeout_ms": 10000,
            "security_policy": "Basic256Sha256",
            "security_mode": "SignAndEncrypt",
            "certificate": str(work / "gateway-cert.der"),
            "private_key": str(work / "gateway-key.pem"),
            "username": "operator",
            "password_env": "NEXUS_TEST_OPCUA_PASSWORD",
            "tags": [{"name": "level", "node_id": "ns=2;s=level"}],
            **extra,
        }
    )


async def test_basic256sha256_with_user_and_password(
    secure_server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint, work = secure_server
    monkeypatch.setenv("NEXUS_TEST_OPCUA_PASSWORD", "s3cret")
    adapter = OpcUaAdapter(device(endpoint, work))
    try:
        readings = await adapter.read()
    finally:
        await adapter.close()
    assert [(r.tag, r.value, r.quality) for r in readings] == [("level", 42.5, Quality.GOOD)]


async def test_a_wrong_password_or_no_security_is_refused(
    secure_server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint, work = secure_server
    monkeypatch.setenv("NEXUS_TEST_OPCUA_PASSWORD", "wrong")
    wrong = OpcUaAdapter(device(endpoint, work))
    plain = OpcUaAdapter(
        device(endpoint, work, security_policy="None", certificate=None, private_key=None)
    )
    for adapter in (wrong, plain):
        try:
            with pytest.raises(DeviceError):
                await adapter.read()
        finally:
            await adapter.close()
