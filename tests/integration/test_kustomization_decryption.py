"""SOPS decryption through the engine: age keys from the decryption Secret; the
plaintext reaches the cluster and nowhere else (status, events, the engine's log)."""

from __future__ import annotations

import base64
import os
import subprocess

import pytest
from pyrage import x25519

from ground.engine import Engine
from ground.gitops import Scenario
from lockstep.kube import ObjectRef
from lockstep.render.sops import sops_executable

pytestmark = pytest.mark.integration

PASSWORD = "correct-horse-battery-staple"


def _encrypt(document: str, recipient: str) -> str:
    sops = sops_executable()
    done = subprocess.run(
        [
            str(sops),
            "--config",
            os.devnull,
            "encrypt",
            "--age",
            recipient,
            "--encrypted-regex",
            "^(data|stringData)$",
            "--input-type",
            "yaml",
            "--output-type",
            "yaml",
            "/dev/stdin",
        ],
        input=document.encode(),
        capture_output=True,
        env={"HOME": os.devnull},
        check=True,
        timeout=30,
    )
    return done.stdout.decode()


async def test_encrypted_secret_is_applied_decrypted(engine: Engine, scenario: Scenario) -> None:
    identity = x25519.Identity.generate()
    await scenario.kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "sops-age", "namespace": scenario.namespace},
            "stringData": {"identity.agekey": f"{identity}\n"},
        }
    )
    secret = f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: {PASSWORD}\n"
    encrypted = _encrypt(secret, str(identity.to_public()))
    assert PASSWORD not in encrypted
    scenario.commit({"apps/db.yaml": encrypted})
    await scenario.source()
    await scenario.kustomization(
        "apps", "./apps", decryption={"provider": "sops", "secretRef": {"name": "sops-age"}}
    )
    ready = await scenario.ready("apps")
    live = await scenario.kube.get(ObjectRef("v1", "Secret", "db", scenario.namespace))
    assert base64.b64decode(live["data"]["password"]).decode() == PASSWORD
    assert "sops" not in live
    events = await scenario.kube.list("v1", "Event", namespace=scenario.namespace)
    assert PASSWORD not in str(ready) + str(events) + engine.log.read_text()


async def test_wrong_key_fails_the_build_without_leaking(
    engine: Engine, scenario: Scenario
) -> None:
    right, wrong = x25519.Identity.generate(), x25519.Identity.generate()
    await scenario.kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "sops-age", "namespace": scenario.namespace},
            "stringData": {"identity.agekey": f"{wrong}\n"},
        }
    )
    secret = f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: {PASSWORD}\n"
    scenario.commit({"apps/db.yaml": _encrypt(secret, str(right.to_public()))})
    await scenario.source()
    await scenario.kustomization(
        "apps", "./apps", decryption={"provider": "sops", "secretRef": {"name": "sops-age"}}
    )
    failed = await scenario.failed("apps", "Secret/")
    assert "BuildFailed" in str(failed["status"]["conditions"])
    assert await scenario.gone(ObjectRef("v1", "Secret", "db", scenario.namespace))
    assert PASSWORD not in str(failed) + engine.log.read_text()
