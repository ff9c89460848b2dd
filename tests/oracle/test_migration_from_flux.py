"""Migration from Flux, against Flux's real controllers: Flux applies a repository,
stops, and lockstep takes the cluster over.

One scenario serves every test of the module (see :func:`migration`):

1. Flux's CRDs are installed, and Flux's source-controller and
   kustomize-controller run. A repository's ``main`` branch holds revision 1
   (two ConfigMaps, a Deployment and a Service); branch ``next`` holds revision
   2, which changes a value, removes a key and a label that Flux applied, updates
   the Deployment's image and drops one ConfigMap. Flux applies revision 1 in the
   namespace that will migrate, and — as the oracle for what Flux does with
   revision 2 — revision 1 then revision 2 in a control namespace.
2. Flux stops; lockstep starts on the same cluster and reconciles both
   namespaces (a ``requestedAt`` request proves each reconcile is done).
   Nothing but status may be written.
3. ``main`` moves to revision 2; lockstep applies it to the migrated namespace,
   which must then hold exactly what Flux made of the control namespace.

Meanwhile lockstep reconciles a third namespace from scratch, whose status the
status-parity tests compare with the status Flux wrote for the same objects.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ground.artifacts import condition
from ground.engine import Engine, start_engine, stop_engine, wait_for_deletions
from ground.flux import (
    GITREPOSITORY_API,
    GO_DURATION,
    HEX_DIGEST,
    KUSTOMIZATION_API,
    applied_objects,
    conditions,
    declared,
    differences,
    install_flux_crds,
    kubectl_run,
    managers,
    mask,
    show_logs,
    without_status_entries,
)
from ground.gitops import deployment
from ground.wait import eventually
from lockstep.dev.cluster import LocalCluster
from lockstep.dev.flux import FluxBinaries, FluxControllers
from lockstep.dev.gitserver import GitServer, WorkingCopy, run_git
from lockstep.kube import KubeClient, KubeObject, NotFound, ObjectRef

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"
WITHIN = 120.0

KUSTOMIZE = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
{resources}"""

SETTINGS = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  labels:
{labels}  annotations:
    team: payments
data:
{data}"""

RETIRED = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: retired
data:
  kept: "until revision 2"
"""

SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
    - port: 80
      targetPort: 8080
"""

REVISION_1 = {
    "app/kustomization.yaml": KUSTOMIZE.format(
        resources="  - settings.yaml\n  - retired.yaml\n  - web.yaml\n  - service.yaml\n"
    ),
    "app/settings.yaml": SETTINGS.format(labels="    tier: backend\n", data='  a: "1"\n  b: "2"\n'),
    "app/retired.yaml": RETIRED,
    "app/web.yaml": deployment("web", tag="1.27", replicas=1),
    "app/service.yaml": SERVICE,
}

# Revision 2: `a` changes, key `b` and label `tier` are removed, the image moves on,
# and the ConfigMap `retired` leaves the repository.
REVISION_2 = {
    "app/kustomization.yaml": KUSTOMIZE.format(
        resources="  - settings.yaml\n  - web.yaml\n  - service.yaml\n"
    ),
    "app/settings.yaml": SETTINGS.format(labels="    app: web\n", data='  a: "2"\n'),
    "app/web.yaml": deployment("web", tag="1.28", replicas=1),
    "app/service.yaml": SERVICE,
}


@dataclass
class Migration:
    """What each side wrote at each step, for the tests to judge."""

    namespace: str
    control: str
    fresh: str
    revision_1: str
    revision_2: str
    storage_hosts: tuple[str, str] = ("", "")
    by_flux: dict[str, KubeObject] = field(default_factory=dict)
    by_flux_revision_2: dict[str, KubeObject] = field(default_factory=dict)
    after_adoption: dict[str, KubeObject] = field(default_factory=dict)
    control_after_adoption: dict[str, KubeObject] = field(default_factory=dict)
    after_revision_2: dict[str, KubeObject] = field(default_factory=dict)
    flux_kustomization: KubeObject = field(default_factory=dict)
    flux_source: KubeObject = field(default_factory=dict)
    adopted_kustomization: KubeObject = field(default_factory=dict)
    adopted_source: KubeObject = field(default_factory=dict)
    fresh_kustomization: KubeObject = field(default_factory=dict)
    fresh_source: KubeObject = field(default_factory=dict)
    migrated_kustomization: KubeObject = field(default_factory=dict)
    control_kustomization: KubeObject = field(default_factory=dict)
    requests: dict[str, float] = field(default_factory=dict)


def _source(namespace: str, url: str, branch: str) -> KubeObject:
    return {
        "apiVersion": GITREPOSITORY_API,
        "kind": "GitRepository",
        "metadata": {"name": "repo", "namespace": namespace},
        "spec": {"interval": "2s", "url": url, "ref": {"branch": branch}},
    }


def _kustomization(namespace: str) -> KubeObject:
    return {
        "apiVersion": KUSTOMIZATION_API,
        "kind": "Kustomization",
        "metadata": {"name": "app", "namespace": namespace},
        "spec": {
            "interval": "10m",
            "sourceRef": {"kind": "GitRepository", "name": "repo"},
            "path": "./app",
            "prune": True,
            "wait": True,
            "timeout": "2m",
            "targetNamespace": namespace,
        },
    }


def _ref(namespace: str, kind: str = "Kustomization") -> ObjectRef:
    if kind == "Kustomization":
        return ObjectRef(KUSTOMIZATION_API, kind, "app", namespace)
    return ObjectRef(GITREPOSITORY_API, kind, "repo", namespace)


async def _applied(
    kube: KubeClient, namespace: str, revision: str, explain: Callable[[], str]
) -> KubeObject:
    """The namespace's Kustomization once Ready at ``revision`` (``branch@sha1:commit``);
    ``explain()`` adds the log of whoever was to apply it to a failure."""

    async def read() -> KubeObject:
        return await kube.get(_ref(namespace))

    def done(obj: KubeObject) -> bool:
        status = obj.get("status") or {}
        return (
            condition(obj, "Ready").startswith("True")
            and status.get("lastAppliedRevision") == revision
            and status.get("observedGeneration") == obj["metadata"]["generation"]
        )

    try:
        return await eventually(read, done, within=WITHIN, what=f"{namespace}/app at {revision}")
    except AssertionError as error:
        raise AssertionError(f"{error}\n{explain()}") from error


async def _source_ready(kube: KubeClient, namespace: str, host: str) -> KubeObject:
    """The namespace's GitRepository once Ready with an artifact served by ``host``."""
    return await eventually(
        lambda: kube.get(_ref(namespace, "GitRepository")),
        lambda obj: (
            condition(obj, "Ready").startswith("True")
            and host in ((obj.get("status") or {}).get("artifact") or {}).get("url", "")
        ),
        within=WITHIN,
        what=f"{namespace}/repo Ready with an artifact on {host}",
    )


async def _reconciled_by_request(
    kube: KubeClient, kubeconfig: Path, namespace: str, explain: Callable[[], str]
) -> KubeObject:
    """Ask for a reconcile of the namespace's Kustomization; it once handled and Ready."""
    token = f"oracle-{uuid.uuid4().hex[:8]}"
    ref = _ref(namespace)
    await asyncio.to_thread(
        kubectl_run,
        kubeconfig,
        "annotate",
        "--overwrite",
        "-n",
        namespace,
        "kustomizations.kustomize.toolkit.fluxcd.io/app",
        f"{REQUESTED_AT}={token}",
    )

    def handled(obj: KubeObject) -> bool:
        status = obj.get("status") or {}
        return status.get("lastHandledReconcileAt") == token and condition(obj, "Ready").startswith(
            "True"
        )

    try:
        return await eventually(
            lambda: kube.get(ref), handled, within=WITHIN, what=f"{namespace}/app handling {token}"
        )
    except AssertionError as error:
        raise AssertionError(f"{error}\n{explain()}") from error


def _write_counts(engine: Engine) -> dict[str, float]:
    return {
        verb: engine.metric("lockstep_kube_requests_total", verb=verb, dry_run="false")
        for verb in ("POST", "PUT", "PATCH", "APPLY", "DELETE")
    }


async def _exists(kube: KubeClient, ref: ObjectRef) -> bool:
    try:
        await kube.get(ref)
    except NotFound:
        return False
    return True


async def _namespace(kube: KubeClient) -> str:
    name = f"t-{uuid.uuid4().hex[:8]}"
    await kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


@pytest.fixture(scope="module")
async def migration(
    flux_binaries: FluxBinaries,
    local_cluster: LocalCluster,
    kubeconfig: Path,
    kube: KubeClient,
    git_server: GitServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Migration]:
    install_flux_crds(kubeconfig)
    folder = tmp_path_factory.mktemp("migration")
    repo = git_server.create_repo(f"migration-{uuid.uuid4().hex[:6]}.git")
    work = WorkingCopy.create(folder / "work", origin=repo.path)
    for path, content in REVISION_1.items():
        work.write(path, content)
    revision_1 = work.commit("revision 1")
    work.switch("next", create=True)
    for path, content in REVISION_2.items():
        work.write(path, content)
    work.remove("app/retired.yaml")
    revision_2 = work.commit("revision 2")
    work.switch("main")
    work.push()

    record = Migration(
        namespace=await _namespace(kube),
        control=await _namespace(kube),
        fresh=await _namespace(kube),
        revision_1=revision_1,
        revision_2=revision_2,
    )
    flux = FluxControllers(flux_binaries, kubeconfig, folder / "flux")

    def flux_log() -> str:
        workloads = kubectl_run(kubeconfig, "get", "deployments,pods,nodes", "-A", "-o", "wide")
        controllers = (local_cluster.logs / "kube-controller-manager.log").read_text()[-2000:]
        return f"{workloads}\n{controllers}\n{show_logs(flux)}"

    flux.start()
    try:
        for namespace in (record.namespace, record.control):
            await kube.apply(_source(namespace, repo.http_url, "main"))
            await kube.apply(_kustomization(namespace))
        main_1 = f"main@sha1:{revision_1}"
        await _applied(kube, record.namespace, main_1, flux_log)
        await _applied(kube, record.control, main_1, flux_log)
        record.by_flux = await applied_objects(kube, record.namespace)
        record.flux_kustomization = await kube.get(_ref(record.namespace))
        record.flux_source = await kube.get(_ref(record.namespace, "GitRepository"))
        # The control namespace follows `next`: what Flux itself does with revision 2.
        await kube.apply(_source(record.control, repo.http_url, "next"))
        record.control_kustomization = await _applied(
            kube, record.control, f"next@sha1:{revision_2}", flux_log
        )
        record.by_flux_revision_2 = await applied_objects(kube, record.control)
    finally:
        flux.stop()

    engine = start_engine(kubeconfig, folder / "lockstep")

    def engine_log() -> str:
        return engine.log.read_text()[-3000:]

    record.storage_hosts = (flux.addresses.storage, engine.storage_addr)
    try:
        before = _write_counts(engine)
        for namespace in (record.namespace, record.control):
            await _source_ready(kube, namespace, engine.storage_addr)
        record.adopted_kustomization = await _reconciled_by_request(
            kube, kubeconfig, record.namespace, engine_log
        )
        await _reconciled_by_request(kube, kubeconfig, record.control, engine_log)
        record.adopted_source = await kube.get(_ref(record.namespace, "GitRepository"))
        record.after_adoption = await applied_objects(kube, record.namespace)
        record.control_after_adoption = await applied_objects(kube, record.control)
        after = _write_counts(engine)
        record.requests = {verb: after[verb] - before[verb] for verb in before}

        await kube.apply(_source(record.fresh, repo.http_url, "main"))
        await kube.apply(_kustomization(record.fresh))
        record.fresh_kustomization = await _applied(
            kube, record.fresh, f"main@sha1:{revision_1}", engine_log
        )
        record.fresh_source = await _source_ready(kube, record.fresh, engine.storage_addr)
        # Done with: gone before `main` moves on, or it would follow it to revision 2.
        await kube.delete(ObjectRef("v1", "Namespace", record.fresh))
        await eventually(
            lambda: _exists(kube, ObjectRef("v1", "Namespace", record.fresh)),
            lambda exists: not exists,
            within=WITHIN,
            what=f"namespace {record.fresh} deleted",
        )

        run_git(["merge", "--quiet", "--ff-only", "next"], work.path)
        work.push()
        record.migrated_kustomization = await _applied(
            kube, record.namespace, f"main@sha1:{revision_2}", engine_log
        )
        record.after_revision_2 = await applied_objects(kube, record.namespace)
        yield record
    finally:
        for namespace in (record.namespace, record.control, record.fresh):
            with contextlib.suppress(NotFound):
                await kube.delete(ObjectRef("v1", "Namespace", namespace))
        try:
            await asyncio.to_thread(wait_for_deletions, kubeconfig, engine)
        finally:
            stop_engine(engine)


# --- Adoption: nothing but status is written -------------------------------------------


def test_flux_applied_the_repository_with_its_own_field_manager(migration: Migration) -> None:
    assert set(migration.by_flux) == {
        "ConfigMap/settings",
        "ConfigMap/retired",
        "Deployment/web",
        "Service/web",
    }
    for name, obj in migration.by_flux.items():
        assert managers(obj).get("kustomize-controller") == "Apply", name


def test_adopting_writes_none_of_the_applied_objects(migration: Migration) -> None:
    for before, after in (
        (migration.by_flux, migration.after_adoption),
        (migration.by_flux_revision_2, migration.control_after_adoption),
    ):
        assert set(after) == set(before)
        for name, obj in before.items():
            now = after[name]
            if not name.startswith("Deployment/"):
                # Nothing else writes these: any write, even of managed fields alone,
                # would bump the resourceVersion.
                assert now["metadata"]["resourceVersion"] == obj["metadata"]["resourceVersion"], (
                    name
                )
            # Deployments get status writes from the cluster's controllers meanwhile.
            assert now["metadata"].get("generation") == obj["metadata"].get("generation"), name
            assert without_status_entries(
                now["metadata"]["managedFields"]
            ) == without_status_entries(obj["metadata"]["managedFields"]), name
            assert {k: v for k, v in now.items() if k not in ("metadata", "status")} == {
                k: v for k, v in obj.items() if k not in ("metadata", "status")
            }, name


def test_adopting_writes_only_the_status_of_flux_objects(migration: Migration) -> None:
    for flux, lockstep in (
        (migration.flux_kustomization, migration.adopted_kustomization),
        (migration.flux_source, migration.adopted_source),
    ):
        assert lockstep["spec"] == flux["spec"]
        assert lockstep["metadata"]["generation"] == flux["metadata"]["generation"]
        for key in ("labels", "finalizers", "ownerReferences"):
            assert lockstep["metadata"].get(key) == flux["metadata"].get(key), key
        annotations = dict(lockstep["metadata"].get("annotations") or {})
        annotations.pop(REQUESTED_AT, None)
        assert annotations == (flux["metadata"].get("annotations") or {})


def test_lockstep_reads_flux_inventory_unchanged(migration: Migration) -> None:
    flux_inventory = migration.flux_kustomization["status"]["inventory"]
    assert migration.adopted_kustomization["status"]["inventory"] == flux_inventory
    assert (
        migration.adopted_kustomization["status"]["lastAppliedRevision"]
        == migration.flux_kustomization["status"]["lastAppliedRevision"]
    )


def test_the_requests_lockstep_sent_while_adopting(migration: Migration) -> None:
    # Status writes are the only writes: APPLY/PATCH of the two Kustomizations' and
    # GitRepositories' status (the request counter does not tell subresources apart,
    # so the objects' resourceVersions above are the proof), and never a deletion.
    print(f"lockstep's writes while adopting: {migration.requests}")
    assert migration.requests["DELETE"] == 0
    assert migration.requests["PUT"] == 0


# --- After adoption, Git changes behave as under Flux -----------------------------------


def test_a_git_change_after_adoption_gives_what_flux_gives(migration: Migration) -> None:
    assert set(migration.after_revision_2) == set(migration.by_flux_revision_2)
    for name, flux in migration.by_flux_revision_2.items():
        lockstep = migration.after_revision_2[name]
        assert declared(lockstep, migration.namespace) == declared(flux, migration.control), name


def test_a_field_removed_from_git_is_removed_from_the_object(migration: Migration) -> None:
    settings = migration.after_revision_2["ConfigMap/settings"]
    assert settings["data"] == {"a": "2"}
    assert "tier" not in settings["metadata"]["labels"]
    # Flux's entry was taken over: lockstep alone now applies these fields.
    assert "kustomize-controller" not in managers(settings)
    assert managers(settings).get("lockstep") == "Apply"


def test_the_object_dropped_from_git_is_pruned_from_flux_inventory(
    migration: Migration,
) -> None:
    assert "ConfigMap/retired" not in migration.after_revision_2
    entries = {
        entry["id"] for entry in migration.migrated_kustomization["status"]["inventory"]["entries"]
    }
    flux_entries = {
        entry["id"].replace(migration.control, migration.namespace)
        for entry in migration.control_kustomization["status"]["inventory"]["entries"]
    }
    assert entries == flux_entries


# --- Status parity: the same objects, reconciled from scratch by each ----------------------


def _kustomization_status(obj: KubeObject, namespace: str) -> dict[str, Any]:
    status = obj["status"]
    history = status.get("history") or []
    return {
        "conditions": conditions(status, namespace),
        "finalizers": obj["metadata"].get("finalizers"),
        "keys": sorted(status),
        "observedGeneration": status.get("observedGeneration"),
        "lastAppliedRevision": status.get("lastAppliedRevision"),
        "lastAttemptedRevision": status.get("lastAttemptedRevision"),
        "lastAppliedOriginRevision": status.get("lastAppliedOriginRevision"),
        "inventory": [
            {**entry, "id": entry["id"].replace(namespace, "<namespace>")}
            for entry in (status.get("inventory") or {}).get("entries") or []
        ],
        "history keys": [sorted(entry) for entry in history],
        "history": [
            {
                key: value
                for key, value in entry.items()
                # The digest covers the objects, namespace included: compared apart.
                if key
                not in ("firstReconciled", "lastReconciled", "lastReconciledDuration", "digest")
            }
            for entry in history
        ],
        "history durations are Go durations": [
            bool(GO_DURATION.match(entry.get("lastReconciledDuration", ""))) for entry in history
        ],
    }


def _source_status(obj: KubeObject, namespace: str, host: str) -> dict[str, Any]:
    status = obj["status"]
    artifact = status.get("artifact") or {}
    return {
        "conditions": conditions(status, namespace),
        "finalizers": obj["metadata"].get("finalizers"),
        "keys": sorted(status),
        "observedGeneration": status.get("observedGeneration"),
        "artifact keys": sorted(artifact),
        "artifact revision": artifact.get("revision"),
        "artifact path": mask(artifact.get("path", ""), namespace),
        "artifact url": mask(artifact.get("url", ""), namespace, host),
        "artifact digest is sha256": bool(HEX_DIGEST.match(artifact.get("digest", ""))),
        "artifact size given": isinstance(artifact.get("size"), int),
    }


def test_kustomization_status_matches_flux(migration: Migration) -> None:
    flux = _kustomization_status(migration.flux_kustomization, migration.namespace)
    lockstep = _kustomization_status(migration.fresh_kustomization, migration.fresh)
    print(f"Flux:     {flux}\nlockstep: {lockstep}")
    found = differences(flux, lockstep)
    assert not found, "Kustomization status differs from Flux's:\n" + "\n".join(found)


def test_history_digest_of_the_same_objects_matches_flux(migration: Migration) -> None:
    # After adopting, lockstep judges the objects Flux applied at the same revision:
    # the history entry Flux wrote is the one lockstep finds for them.
    flux = migration.flux_kustomization["status"]["history"]
    adopted = migration.adopted_kustomization["status"]["history"]
    assert [entry["digest"] for entry in adopted] == [entry["digest"] for entry in flux]


def test_gitrepository_status_matches_flux(migration: Migration) -> None:
    flux_host, lockstep_host = migration.storage_hosts
    flux = _source_status(migration.flux_source, migration.namespace, flux_host)
    lockstep = _source_status(migration.fresh_source, migration.fresh, lockstep_host)
    print(f"Flux:     {flux}\nlockstep: {lockstep}")
    found = differences(flux, lockstep)
    assert not found, "GitRepository status differs from Flux's:\n" + "\n".join(found)
