"""The foundation issue's GitRepository and Kustomization, verbatim but for the URL of a
local repository: applied, drift reverted long before the 10m interval, and a file
removed from Git pruned."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ground.engine import Engine
from ground.gitops import Scenario, deployment
from ground.manifests import SAMPLE_MANIFESTS
from ground.wait import eventually
from lockstep.kube import ObjectRef

pytestmark = pytest.mark.integration

FLUX_NAMESPACE = "flux-system"
SEED = "---".join(SAMPLE_MANIFESTS.split("---")[:2])


@pytest.fixture
async def flux_namespace(scenario: Scenario) -> AsyncIterator[Scenario]:
    """``flux-system``, shared with other tests: the seed objects are removed afterwards."""
    await scenario.kube.apply(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": FLUX_NAMESPACE}}
    )
    yield scenario
    for kind, api in (
        ("Kustomization", "kustomize.toolkit.fluxcd.io/v1"),
        ("GitRepository", "source.toolkit.fluxcd.io/v1"),
    ):
        ref = ObjectRef(api, kind, "apps" if kind == "Kustomization" else "infra", FLUX_NAMESPACE)
        await scenario.kube.delete(ref)
        await eventually(lambda ref=ref: scenario.gone(ref), bool, what=f"{kind} deleted")


async def test_seed_manifests_apply_revert_drift_and_prune(
    engine: Engine, flux_namespace: Scenario
) -> None:
    scenario = flux_namespace
    web = deployment().replace("  name: web\n", f"  name: web\n  namespace: {scenario.namespace}\n")
    scenario.commit({"apps/web.yaml": web})
    manifests = SEED.replace("https://github.com/acme/infra", scenario.repo.git_url)
    assert manifests.count("\n") == SEED.count("\n"), "only the URL differs"
    await scenario.kubectl("-n", FLUX_NAMESPACE, "apply", "-f", "-", stdin=manifests)

    kustomization = ObjectRef(
        "kustomize.toolkit.fluxcd.io/v1", "Kustomization", "apps", FLUX_NAMESPACE
    )
    await eventually(
        lambda: scenario.kube.get(kustomization),
        lambda o: any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in (o.get("status") or {}).get("conditions", [])
        ),
        what="apps Ready",
    )
    ref = ObjectRef("apps/v1", "Deployment", "web", scenario.namespace)
    assert (await scenario.kube.get(ref))["spec"]["replicas"] == 2

    await scenario.kubectl("scale", "deploy/web", "--replicas=5")
    await eventually(
        lambda: scenario.kube.get(ref),
        lambda d: d["spec"]["replicas"] == 2,
        within=10,
        what="replicas reverted",
    )

    scenario.commit(
        {
            "apps/keep.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keep\n  namespace: "
            + scenario.namespace
            + "\n"
        },
        "drop web",
        remove=("apps/web.yaml",),
    )
    await scenario.kubectl(
        "-n",
        FLUX_NAMESPACE,
        "annotate",
        "--overwrite",
        "gitrepository/infra",
        "reconcile.fluxcd.io/requestedAt=now",
    )
    await eventually(lambda: scenario.gone(ref), bool, within=60, what="web pruned")
