"""Receivers against the real engine: a signed GitHub push makes a new commit live at
once, although the GitRepository and the Kustomization only poll every hour; a call
with a wrong signature is refused and changes nothing."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json

import aiohttp
import pytest

from ground.artifacts import condition
from ground.engine import Engine
from ground.gitops import Scenario, config_map
from ground.wait import eventually
from lockstep.kube import KubeObject, ObjectRef

pytestmark = pytest.mark.integration

TOKEN = b"receiver-test-token"


async def _github_receiver(scenario: Scenario) -> str:
    """A Secret and a github Receiver for the GitRepository ``repo``; its webhook path."""
    await scenario.kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "webhook-token", "namespace": scenario.namespace},
            "data": {"token": base64.b64encode(TOKEN).decode()},
        }
    )
    await scenario.kube.apply(
        {
            "apiVersion": "notification.toolkit.fluxcd.io/v1",
            "kind": "Receiver",
            "metadata": {"name": "github", "namespace": scenario.namespace},
            "spec": {
                "type": "github",
                "events": ["push"],
                "secretRef": {"name": "webhook-token"},
                "resources": [{"kind": "GitRepository", "name": "repo"}],
            },
        }
    )
    ref = ObjectRef("notification.toolkit.fluxcd.io/v1", "Receiver", "github", scenario.namespace)
    receiver = await eventually(
        lambda: scenario.kube.get(ref),
        lambda o: condition(o, "Ready").startswith("True"),
        within=30,
        what="Receiver github Ready",
    )
    digest = hashlib.sha256(TOKEN + b"github" + scenario.namespace.encode()).hexdigest()
    path = str(receiver["status"]["webhookPath"])
    assert path == f"/hook/{digest}"
    assert condition(receiver, "Ready").endswith(f"Receiver initialized for path: {path}")
    return path


async def _push(engine: Engine, path: str, token: bytes) -> int:
    """POST a GitHub push event signed with ``token``; the answer's status."""
    body = json.dumps({"ref": "refs/heads/main", "after": "0" * 40}).encode()
    signature = hmac.new(token, body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-Hub-Signature-256": f"sha256={signature}",
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"http://{engine.receiver_addr}{path}", data=body, headers=headers) as answer,
    ):
        return answer.status


async def test_a_signed_push_is_applied_at_once_and_a_forged_one_is_refused(
    engine: Engine, scenario: Scenario
) -> None:
    scenario.commit({"apps/settings.yaml": config_map("settings", colour="blue")})
    await scenario.source(interval="1h")
    await scenario.kustomization("apps", "./apps", interval="1h")
    await scenario.ready("apps")
    path = await _github_receiver(scenario)
    settings = ObjectRef("v1", "ConfigMap", "settings", scenario.namespace)

    scenario.commit({"apps/settings.yaml": config_map("settings", colour="green")})
    assert await _push(engine, path, TOKEN) == 200
    await eventually(
        lambda: scenario.kube.get(settings),
        lambda c: c["data"]["colour"] == "green",
        within=10,
        what="the pushed colour live",
    )

    scenario.commit({"apps/settings.yaml": config_map("settings", colour="red")})
    assert await _push(engine, path, b"a-guessed-token") == 401
    await asyncio.sleep(4)
    live: KubeObject = await scenario.kube.get(settings)
    assert live["data"]["colour"] == "green", "a refused call must not trigger anything"
