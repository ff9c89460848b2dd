"""Going back to Flux: Flux's own controllers run on the CRDs ``lockstep install --crds``
installs, and reconcile a GitRepository and a Kustomization there.

A cluster that moved to lockstep must be able to move back: Flux's
source-controller starts only when every kind it reconciles (GitRepository,
OCIRepository, HelmRepository, HelmChart, Bucket, ExternalArtifact) is served,
and the kustomize-controller watches every source kind too.

This module runs before the migration module (file order), while the session's
cluster has no CRDs but lockstep's.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ground.artifacts import condition
from ground.flux import GITREPOSITORY_API, KUSTOMIZATION_API, show_logs
from ground.gitops import config_map
from ground.wait import eventually
from lockstep.dev.flux import FluxBinaries, FluxControllers
from lockstep.dev.gitserver import ServedRepo
from lockstep.dev.loopback import ServerStartError
from lockstep.kube import KubeClient, KubeObject, NotFound, ObjectRef

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


async def _gone(kube: KubeClient, ref: ObjectRef) -> bool:
    try:
        await kube.get(ref)
    except NotFound:
        return True
    return False


async def test_flux_reconciles_on_the_crds_lockstep_installs(
    crds_installed: Path,
    flux_binaries: FluxBinaries,
    kube: KubeClient,
    namespace: str,
    git_repo: ServedRepo,
    tmp_path: Path,
) -> None:
    work = git_repo.working_copy(tmp_path / "work")
    work.write("app/settings.yaml", config_map("settings", a="1"))
    commit = work.commit("settings")
    work.push()
    flux = FluxControllers(flux_binaries, crds_installed, tmp_path / "flux")
    try:
        flux.start()
    except ServerStartError as error:
        raise AssertionError(f"{error}\n{show_logs(flux)}") from error
    source = ObjectRef(GITREPOSITORY_API, "GitRepository", "repo", namespace)
    kustomization = ObjectRef(KUSTOMIZATION_API, "Kustomization", "app", namespace)
    try:
        await kube.apply(
            {
                "apiVersion": GITREPOSITORY_API,
                "kind": "GitRepository",
                "metadata": {"name": "repo", "namespace": namespace},
                "spec": {"interval": "1m", "url": git_repo.http_url, "ref": {"branch": "main"}},
            }
        )
        await kube.apply(
            {
                "apiVersion": KUSTOMIZATION_API,
                "kind": "Kustomization",
                "metadata": {"name": "app", "namespace": namespace},
                "spec": {
                    "interval": "10m",
                    "sourceRef": {"kind": "GitRepository", "name": "repo"},
                    "path": "./app",
                    "prune": True,
                    "targetNamespace": namespace,
                },
            }
        )

        def applied(obj: KubeObject) -> bool:
            status = obj.get("status") or {}
            return condition(obj, "Ready").startswith("True") and (
                status.get("lastAppliedRevision") == f"main@sha1:{commit}"
            )

        try:
            await eventually(
                lambda: kube.get(kustomization), applied, within=120, what="Flux applying"
            )
        except AssertionError as error:
            raise AssertionError(f"{error}\n{show_logs(flux)}") from error
        settings = await kube.get(ObjectRef("v1", "ConfigMap", "settings", namespace))
        assert settings["data"] == {"a": "1"}
    finally:
        # Flux's finalizers go with Flux's controllers: delete while they still run.
        for ref in (kustomization, source):
            try:
                await kube.delete(ref)
            except NotFound:
                continue
            await eventually(lambda ref=ref: _gone(kube, ref), bool, within=60, what=f"{ref} gone")
        flux.stop()
