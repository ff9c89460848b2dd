"""Source status as Flux's source-controller writes it: the ``finalizers.fluxcd.io``
finalizer, Ready and ArtifactInStorage with reason ``Succeeded``, artifact files named
``<commit>.tar.gz`` (GitRepository) and ``<manifest digest hex>.tar.gz`` (OCIRepository),
and on deletion the stored artifacts removed before the finalizer is released.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ground.artifacts import artifact_files, condition
from ground.engine import Engine
from ground.oci import push
from ground.wait import eventually
from lockstep.dev.gitserver import ServedRepo
from lockstep.dev.registry import OciRegistry
from lockstep.kube import KubeClient, NotFound, ObjectRef

pytestmark = pytest.mark.integration

SOURCE = "source.toolkit.fluxcd.io/v1"


def reasons(obj: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in obj["status"]["conditions"]}


async def gone(kube: KubeClient, ref: ObjectRef) -> bool:
    try:
        await kube.get(ref)
    except NotFound:
        return True
    return False


async def test_a_git_repository_carries_flux_finalizer_reason_and_file_name(
    engine: Engine, kube: KubeClient, namespace: str, git_repo: ServedRepo, tmp_path: Path
) -> None:
    work = git_repo.working_copy(tmp_path / "work")
    work.write("app.yaml", "kind: ConfigMap\n")
    commit = work.commit("first")
    work.push()
    await kube.apply(
        {
            "apiVersion": SOURCE,
            "kind": "GitRepository",
            "metadata": {"name": "app", "namespace": namespace},
            "spec": {"url": git_repo.git_url, "interval": "1h", "ref": {"branch": "main"}},
        }
    )
    ref = ObjectRef(SOURCE, "GitRepository", "app", namespace)
    ready = await eventually(
        lambda: kube.get(ref), lambda o: condition(o, "Ready").startswith("True"), what="Ready"
    )

    assert ready["metadata"]["finalizers"] == ["finalizers.fluxcd.io"]
    assert reasons(ready) == {
        "Ready": ("True", "Succeeded"),
        "ArtifactInStorage": ("True", "Succeeded"),
    }
    artifact = ready["status"]["artifact"]
    assert artifact["path"] == f"gitrepository/{namespace}/app/{commit}.tar.gz"
    stored = engine.storage_path / artifact["path"]
    assert stored.is_file()
    assert artifact_files(artifact["url"]) == {"app.yaml": b"kind: ConfigMap\n"}, "served"

    await kube.delete(ref)
    await eventually(lambda: gone(kube, ref), bool, what="the GitRepository deleted")
    assert not stored.parent.exists(), "the artifacts go with the object"


async def test_an_oci_repository_names_its_file_by_the_manifest_digest(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    oci_registry: OciRegistry,
    oci_repository: str,
    tmp_path: Path,
) -> None:
    digest = push(oci_registry, oci_repository, "v1.0.0", tmp_path)
    await kube.apply(
        {
            "apiVersion": SOURCE,
            "kind": "OCIRepository",
            "metadata": {"name": "app", "namespace": namespace},
            "spec": {
                "url": f"oci://{oci_repository}",
                "interval": "1h",
                "ref": {"tag": "v1.0.0"},
            },
        }
    )
    ref = ObjectRef(SOURCE, "OCIRepository", "app", namespace)
    ready = await eventually(
        lambda: kube.get(ref), lambda o: condition(o, "Ready").startswith("True"), what="Ready"
    )

    assert ready["metadata"]["finalizers"] == ["finalizers.fluxcd.io"]
    assert reasons(ready)["Ready"] == ("True", "Succeeded")
    hex_digest = digest.removeprefix("sha256:")
    assert (
        ready["status"]["artifact"]["path"] == f"ocirepository/{namespace}/app/{hex_digest}.tar.gz"
    )

    await kube.delete(ref)
    await eventually(lambda: gone(kube, ref), bool, what="the OCIRepository deleted")
    assert not (engine.storage_path / f"ocirepository/{namespace}/app").exists()


async def test_a_suspended_source_gets_the_finalizer_and_is_released_on_deletion(
    engine: Engine, kube: KubeClient, namespace: str, git_repo: ServedRepo
) -> None:
    await kube.apply(
        {
            "apiVersion": SOURCE,
            "kind": "GitRepository",
            "metadata": {"name": "held", "namespace": namespace},
            "spec": {"url": git_repo.git_url, "interval": "1h", "suspend": True},
        }
    )
    ref = ObjectRef(SOURCE, "GitRepository", "held", namespace)
    held = await eventually(
        lambda: kube.get(ref),
        lambda o: "finalizers.fluxcd.io" in (o["metadata"].get("finalizers") or []),
        what="the finalizer",
    )
    assert "status" not in held or not held["status"].get("artifact")

    await kube.delete(ref)
    await eventually(lambda: gone(kube, ref), bool, what="the suspended GitRepository deleted")
