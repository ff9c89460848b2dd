"""Drift-ignore rules: a field scaled by hand stays as it is, with ownership kept."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from ground.gitops import kubectl
from lockstep.apply import (
    Action,
    IgnoreRule,
    Selector,
    apply_all,
    default_apply_options,
    kustomization_owner,
)
from lockstep.kube import KubeClient, KubeObject, ObjectRef

pytestmark = pytest.mark.integration

OWNER = kustomization_owner("apps", "flux-system")


def _deployment(namespace: str) -> KubeObject:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx"}]},
            },
        },
    }


async def test_replicas_scaled_by_hand_are_left_alone_under_an_ignore_rule(
    kube: KubeClient, kubeconfig: Path, namespace: str
) -> None:
    rule = IgnoreRule(["/spec/replicas"], Selector(kind="Deployment", name="web"))
    options = dataclasses.replace(default_apply_options(OWNER), ignore_rules=(rule,))
    deployment = _deployment(namespace)
    ref = ObjectRef.of(deployment)

    created = await apply_all(kube, [deployment], options)
    assert [entry.action for entry in created.entries] == [Action.CREATED]
    assert (await kube.get(ref))["spec"]["replicas"] == 2

    await kubectl(kubeconfig, "-n", namespace, "scale", "deployment/web", "--replicas=5")

    again = await apply_all(kube, [deployment], options)

    assert [entry.action for entry in again.entries] == [Action.UNCHANGED]
    assert (await kube.get(ref))["spec"]["replicas"] == 5

    reverted = await apply_all(kube, [deployment], default_apply_options(OWNER))
    assert [entry.action for entry in reverted.entries] == [Action.CONFIGURED]
    assert (await kube.get(ref))["spec"]["replicas"] == 2
