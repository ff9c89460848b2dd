"""What must hold once the engine has converged after a fault, each check returning the
problems it found (an empty list when none), so that a scenario counts its failures.

- :func:`cluster_problems`: every object as Git declares it, the inventory listing
  exactly the applied objects, and no orphan (an object carrying the Kustomization's
  ownership labels that its inventory does not list);
- :func:`storage_problems`: no half-written or duplicate artifact in the engine's
  artifact folder, and the source's artifact whole and as its status describes it;
- :func:`helm_release_problems`: a Helm release unlocked (no revision pending), its
  history consistent (one revision deployed, the others superseded or failed), every
  object as the deployed revision renders it, and no orphan (an object carrying the
  HelmRelease's ownership labels that the deployed revision's manifest does not list).

Also the Git repository of ConfigMaps the scenarios sync, and how to wait for a
Kustomization to have applied a commit.
"""

from __future__ import annotations

import hashlib
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from ground.gitops import KUSTOMIZATION_API, Scenario, config_map
from ground.wait import eventually
from lockstep.apply.owners import HELM_GROUP
from lockstep.controllers.helm.storage import Release, ReleaseStatus, ReleaseStorage
from lockstep.kube import KubeClient, KubeObject, NotFound, ObjectRef

NAME_LABEL = "kustomize.toolkit.fluxcd.io/name"
NAMESPACE_LABEL = "kustomize.toolkit.fluxcd.io/namespace"

Declared = dict[str, dict[str, str]]
"""The ConfigMaps of the repository: name → data."""


def own_namespace(scenario: Scenario) -> tuple[str, ...]:
    """The ``lockstep run`` arguments that keep a scenario's engine to its namespace: the
    namespaces of earlier scenarios, being deleted with their objects, are then no work
    of this one's (fetching their large commits, finalizing their Kustomizations), and
    what it leaves in its folders and counts in its metrics is its own."""
    return ("--watch-namespace", scenario.namespace)


def owner_labels(name: str, namespace: str) -> dict[str, str | None]:
    """The labels the engine puts on the objects of the Kustomization ``namespace/name``."""
    return {NAME_LABEL: name, NAMESPACE_LABEL: namespace}


def commit_maps(scenario: Scenario, declared: Declared, message: str) -> str:
    """Write ``declared`` as the files of ``apps/`` (and only those), commit and push;
    the commit id."""
    present = {path.stem for path in (scenario.work.path / "apps").glob("*.yaml")}
    scenario.commit(
        {f"apps/{name}.yaml": config_map(name, **data) for name, data in declared.items()},
        message,
        remove=tuple(f"apps/{name}.yaml" for name in sorted(present - declared.keys())),
    )
    return scenario.work.head()


def entry_id(namespace: str, name: str) -> str:
    return f"{namespace}_{name}__ConfigMap"


async def inventory(kube: KubeClient, namespace: str, name: str) -> list[str]:
    """The ids ``status.inventory`` of the Kustomization lists, in its order."""
    obj = await kube.get(ObjectRef(KUSTOMIZATION_API, "Kustomization", name, namespace))
    entries = ((obj.get("status") or {}).get("inventory") or {}).get("entries") or []
    return [entry["id"] for entry in entries]


async def owned(kube: KubeClient, namespace: str, name: str) -> dict[str, KubeObject]:
    """The ConfigMaps of every namespace carrying the Kustomization's labels, by inventory id."""
    items = await kube.list("v1", "ConfigMap", labels=owner_labels(name, namespace))
    return {
        entry_id(item["metadata"]["namespace"], item["metadata"]["name"]): item for item in items
    }


async def unlisted(kube: KubeClient, namespace: str, name: str) -> list[str]:
    """Objects carrying the Kustomization's labels that its inventory does not list."""
    listed = set(await inventory(kube, namespace, name))
    return sorted(set(await owned(kube, namespace, name)) - listed)


async def applied(scenario: Scenario, name: str, commit: str, within: float = 120) -> KubeObject:
    """Wait until the Kustomization is Ready with ``commit`` applied, and return it."""

    def done(obj: KubeObject) -> bool:
        status = obj.get("status") or {}
        ready = next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), {})
        return (
            ready.get("status") == "True"
            and str(status.get("lastAppliedRevision", "")).endswith(commit)
            and status.get("observedGeneration") == obj["metadata"]["generation"]
        )

    return await eventually(
        lambda: scenario.kube.get(scenario.ref(name)),
        done,
        within=within,
        what=f"Kustomization {name} Ready at {commit[:12]}",
    )


async def cluster_problems(scenario: Scenario, name: str, declared: Declared) -> list[str]:
    """Whether the cluster holds what Git declares, listed exactly once, and nothing else."""
    kube, namespace = scenario.kube, scenario.namespace
    problems = []
    live = await owned(kube, namespace, name)
    for map_name, data in declared.items():
        obj = live.get(entry_id(namespace, map_name))
        if obj is None:
            problems.append(f"ConfigMap {namespace}/{map_name} is missing")
        elif obj.get("data") != data:
            problems.append(f"ConfigMap {namespace}/{map_name} holds {obj.get('data')}, not {data}")
    expected = {entry_id(namespace, map_name) for map_name in declared}
    listed = await inventory(kube, namespace, name)
    if len(listed) != len(set(listed)):
        problems.append(f"the inventory lists {len(listed) - len(set(listed))} objects twice")
    if set(listed) != expected:
        extra, missing = set(listed) - expected, expected - set(listed)
        problems.append(
            f"the inventory lists {len(extra)} objects not applied ({sorted(extra)[:3]}) "
            f"and misses {len(missing)} ({sorted(missing)[:3]})"
        )
    orphans = sorted(set(live) - set(listed))
    if orphans:
        problems.append(f"{len(orphans)} orphans no inventory lists: {orphans[:5]}")
    return problems


async def source_artifact(kube: KubeClient, namespace: str, name: str = "repo") -> KubeObject:
    ref = ObjectRef("source.toolkit.fluxcd.io/v1", "GitRepository", name, namespace)
    try:
        obj = await kube.get(ref)
    except NotFound:
        return {}
    artifact: KubeObject = (obj.get("status") or {}).get("artifact") or {}
    return artifact


def storage_problems(storage: Path, artifact: Mapping[str, str], commits: set[str]) -> list[str]:
    """Half-written or broken files anywhere in the artifact folder; for the source of
    ``artifact``, files named after commits pushed (``commits``), each once, its current
    one present with the digest its status gives."""
    problems = [
        f"half-written file left: {path.relative_to(storage)}"
        for path in storage.rglob(".incoming-*")
    ]
    scratch = storage / ".scratch"
    problems += [
        f"work folder left: {path.relative_to(storage)}"
        for path in (scratch.iterdir() if scratch.is_dir() else [])
        if path.name != "artifacts"
    ]
    for path in storage.rglob("*.tar.gz"):
        try:
            with tarfile.open(path, "r:gz") as archive:
                archive.getmembers()
        except (tarfile.TarError, EOFError, OSError):
            problems.append(f"broken artifact: {path.relative_to(storage)}")
    if not artifact:
        return [*problems, "the GitRepository has no artifact"]
    current = storage / artifact["path"]
    folder = current.parent
    stored = {path: _sha256(path) for path in folder.glob("*.tar.gz")}
    problems += [
        f"artifact of no pushed commit: {path.name}"
        for path in stored
        if path.name.removesuffix(".tar.gz") not in commits
    ]
    if len(set(stored.values())) != len(stored):
        problems.append(f"the same artifact stored twice in {folder.relative_to(storage)}")
    if not current.is_file():
        problems.append(f"the current artifact {artifact['path']} is not stored")
    elif artifact.get("digest") != f"sha256:{_sha256(current)}":
        problems.append(f"the current artifact {artifact['path']} does not match its digest")
    return problems


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# Helm releases ---------------------------------------------------------------------

SETTLED = frozenset({ReleaseStatus.SUPERSEDED, ReleaseStatus.FAILED})
"""What every revision but the deployed one must be once a release has converged."""


def helm_owner_labels(name: str, namespace: str) -> dict[str, str | None]:
    """The labels the engine puts on the objects of the HelmRelease ``namespace/name``."""
    return {f"{HELM_GROUP}/name": name, f"{HELM_GROUP}/namespace": namespace}


def manifest_maps(release: Release) -> set[str]:
    """The names of the ConfigMaps the manifest of ``release`` lists."""
    documents = yaml.safe_load_all(release.manifest)
    return {
        doc["metadata"]["name"]
        for doc in documents
        if isinstance(doc, dict) and doc.get("kind") == "ConfigMap"
    }


async def helm_owned(kube: KubeClient, namespace: str, name: str) -> dict[str, KubeObject]:
    """The ConfigMaps of every namespace carrying the HelmRelease's labels, by name
    (a release's objects all live in its namespace)."""
    items = await kube.list("v1", "ConfigMap", labels=helm_owner_labels(name, namespace))
    return {item["metadata"]["name"]: item for item in items}


async def unreleased(kube: KubeClient, namespace: str, name: str) -> list[str]:
    """Objects carrying the HelmRelease's labels that no stored revision lists: nothing
    would ever delete them (a Helm release's inventory is its revisions' manifests)."""
    listed = set().union(
        *(manifest_maps(rel) for rel in await ReleaseStorage(kube, namespace).history(name))
    )
    return sorted(set(await helm_owned(kube, namespace, name)) - listed)


async def helm_release_problems(
    kube: KubeClient,
    namespace: str,
    name: str,
    declared: Declared,
    chart_version: str,
    values: Mapping[str, Any],
) -> list[str]:
    """Whether the release ``namespace/name`` (named after its HelmRelease, stored in its
    namespace) is unlocked with one revision deployed at ``chart_version`` and
    ``values``, and the cluster holds the ConfigMaps ``declared``, as its manifest lists
    them, and nothing else of the HelmRelease's."""
    secrets = await kube.list(
        "v1", "Secret", namespace=namespace, labels={"name": name, "owner": "helm"}
    )
    problems = [
        f"Secret {secret['metadata']['name']} left {status}"
        for secret in secrets
        if ReleaseStatus(status := secret["metadata"]["labels"]["status"]).is_pending
    ]
    history = await ReleaseStorage(kube, namespace).history(name)
    deployed = [rel for rel in history if rel.status == ReleaseStatus.DEPLOYED]
    unsettled = [
        f"v{rel.version} {rel.status}"
        for rel in history
        if rel.status not in SETTLED and rel.status != ReleaseStatus.DEPLOYED
    ]
    if len(deployed) != 1:
        problems.append(
            f"{len(deployed)} revisions deployed: {[f'v{rel.version}' for rel in deployed]}"
        )
    if unsettled:
        problems.append(f"revisions neither deployed, superseded nor failed: {unsettled}")
    if not deployed:
        return problems
    current = deployed[-1]
    if current.version != history[-1].version:
        problems.append(f"v{current.version} deployed, not the newest v{history[-1].version}")
    if current.chart_version != chart_version:
        problems.append(
            f"v{current.version} has chart {current.chart_version}, not {chart_version}"
        )
    if current.config != values:
        problems.append(f"v{current.version} has values {current.config}, not {values}")
    listed = manifest_maps(current)
    if listed != set(declared):
        extra, missing = sorted(listed - set(declared)), sorted(set(declared) - listed)
        problems.append(
            f"v{current.version} lists {len(extra)} ConfigMaps not rendered ({extra[:3]}) "
            f"and misses {len(missing)} ({missing[:3]})"
        )
    live = await helm_owned(kube, namespace, name)
    for map_name, data in declared.items():
        obj = live.get(map_name)
        if obj is None:
            problems.append(f"ConfigMap {namespace}/{map_name} is missing")
        elif obj.get("data") != data:
            problems.append(f"ConfigMap {namespace}/{map_name} holds {obj.get('data')}, not {data}")
    orphans = sorted(set(live) - listed)
    if orphans:
        problems.append(
            f"{len(orphans)} orphans the deployed revision does not list: {orphans[:5]}"
        )
    return problems
