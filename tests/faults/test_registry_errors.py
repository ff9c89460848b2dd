"""Scenario D: the OCI registry answering 500, then 429 with Retry-After, for every
request, while an artifact removing an object is pushed and a reconcile requested.

The engine reaches the real test registry through :class:`HttpFaultRelay`, switched to
fail. While it fails: the OCIRepository keeps its last good artifact and says why it
cannot fetch (Ready False, FetchFailed, naming the registry and the status code); the
Kustomization handles the request with that artifact, stays Ready on the last good
revision, and nothing is pruned. Once the relay passes requests through again, the new
artifact is fetched and applied without any further request.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

import pytest

from faults.checks import Declared, applied, cluster_problems, own_namespace, storage_problems
from faults.report import FaultReport, ScenarioResult, seconds
from ground.engine import start_engine, stop_engine
from ground.fault_relays import HttpFaultRelay
from ground.gitops import Scenario, config_map
from ground.oci import push
from ground.wait import eventually
from lockstep.dev.registry import OciRegistry
from lockstep.kube import KubeError, KubeObject, ObjectRef

pytestmark = pytest.mark.faults

OBJECTS = 20
SOURCE_API = "source.toolkit.fluxcd.io/v1"
INTERVAL = "5s"
"""The OCIRepository's interval: failed fetches are retried within it."""
TAG = "latest"
RETRY_AFTER_SECONDS = 3
BACKOFF_SECONDS = 0.5
"""Less time than this between two failed requests is a retry without backoff (the
work queue's first delay is 0.75 s, shortened by up to a tenth)."""
HELD_SECONDS = 6.0
"""How long the relay keeps failing once both objects have told the failure: longer
than the interval, so that the engine's retries while it fails are seen."""
STATUSES = (500, 429)
"""What the registry answers, in turn, in each round."""


def _condition(obj: KubeObject, kind: str) -> dict[str, str]:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == kind), {})


def _spacing(gaps: list[float]) -> str:
    return f"{len(gaps) + 1} ({', '.join(f'{gap:.1f}' for gap in gaps) or '-'})"


def _retry_after_note(outages_gaps: list[list[float]]) -> list[str]:
    """What the engine made of Retry-After, as the gaps between the 429s show it."""
    gaps = [gap for outage in outages_gaps for gap in outage]
    if not gaps:
        return []
    if min(gaps) >= RETRY_AFTER_SECONDS:
        return [
            f"After a 429 the engine waited at least the {RETRY_AFTER_SECONDS} s of Retry-After."
        ]
    return [
        f"The engine does not wait for Retry-After: it asked again {min(gaps):.1f} s after a "
        f"429 asking for {RETRY_AFTER_SECONDS} s; its retries follow its own backoff, at "
        f"most the interval ({INTERVAL})."
    ]


def _handled(obj: KubeObject, requested: str) -> bool:
    return (obj.get("status") or {}).get("lastHandledReconcileAt") == requested


class Pusher:
    """Pushes the declared ConfigMaps as the artifact of ``repository:latest``."""

    def __init__(self, registry: OciRegistry, repository: str, folder: Path) -> None:
        self.registry, self.repository, self.folder = registry, repository, folder
        self.digests: set[str] = set()

    def push(self, declared: Declared) -> str:
        """Push ``declared`` and return the manifest digest (``sha256:...``)."""
        files = {
            f"{name}.yaml": config_map(name, **data).encode() for name, data in declared.items()
        }
        folder = self.folder / f"push-{len(self.digests)}"
        folder.mkdir(parents=True)
        digest = push(self.registry, self.repository, TAG, folder, files=files)
        self.digests.add(digest)
        return digest


async def test_registry_errors_keep_the_last_good_artifact_and_recover(
    crds_installed: Path,
    scenario: Scenario,
    oci_registry: OciRegistry,
    oci_repository: str,
    tmp_path: Path,
    rounds: int,
    fault_report: FaultReport,
) -> None:
    kube, namespace = scenario.kube, scenario.namespace
    result = ScenarioResult(
        f"D. Registry answering 500 and 429 (rounds: {rounds})",
        f"An OCIRepository (interval {INTERVAL}) reaching the test registry through a relay, "
        f"and a Kustomization of {OBJECTS} ConfigMaps from it; in each round the relay "
        "answers every request with 500, then (second outage) with 429 and Retry-After: "
        f"{RETRY_AFTER_SECONDS}; meanwhile an artifact removing an object is pushed and a "
        f"reconcile of both is requested; {HELD_SECONDS:.0f} s after both have handled the "
        "request, the relay passes requests through again. A failure is an outage during which the artifact "
        "was lost, an object was pruned, a condition did not name the registry and the "
        "status, or after which the new artifact was not applied without a further request.",
        (
            "outages",
            "failures",
            "request → failure told p50",
            "registry back → applied p50",
            "p95",
            "max",
        ),
    )
    fault_report.scenarios.append(result)
    relay = HttpFaultRelay(oci_registry.host)
    engine = start_engine(crds_installed, tmp_path / "engine", *own_namespace(scenario))
    pusher = Pusher(oci_registry, oci_repository, tmp_path)
    declared: Declared = {f"map-{index:02d}": {"index": str(index)} for index in range(OBJECTS)}
    told: list[float] = []
    recovered: list[float] = []
    failures: list[str] = []
    said: dict[int, str] = {}
    retries: dict[int, list[list[float]]] = {status: [] for status in STATUSES}
    outages = 0
    try:
        digest = pusher.push(declared)
        path = oci_repository.split("/", 1)[1]
        await kube.apply(
            {
                "apiVersion": SOURCE_API,
                "kind": "OCIRepository",
                "metadata": {"name": "app", "namespace": namespace},
                "spec": {
                    "interval": INTERVAL,
                    "url": f"oci://{relay.host}/{path}",
                    "ref": {"tag": TAG},
                    "insecure": True,
                },
            }
        )
        await scenario.kustomization(
            "apps", "./", sourceRef={"kind": "OCIRepository", "name": "app"}
        )
        await applied(scenario, "apps", digest)
        for _ in range(rounds):
            for status in STATUSES:
                outages += 1
                try:
                    seen, back, condition, gaps = await _outage(
                        scenario, relay, pusher, declared, status, outages
                    )
                except (AssertionError, KubeError) as error:
                    failures.append(
                        f"outage {outages} ({status}): {str(error).splitlines()[0][:300]}"
                    )
                    raise
                told.append(seen)
                recovered.append(back)
                said.setdefault(status, condition)
                retries[status].append(gaps)
                if gaps and min(gaps) < BACKOFF_SECONDS:
                    failures.append(
                        f"outage {outages} ({status}): a request {min(gaps):.1f} s after a "
                        "failed one: retried without backoff"
                    )
        failures += await cluster_problems(scenario, "apps", declared)
        source = await kube.get(ObjectRef(SOURCE_API, "OCIRepository", "app", namespace))
        hexes = {digest.removeprefix("sha256:") for digest in pusher.digests}
        failures += storage_problems(engine.storage_path, source["status"]["artifact"], hexes)
    finally:
        stop_engine(engine)
        relay.close()
        result.rows.append(
            (str(outages), str(len(failures)), seconds(told)[0], *seconds(recovered))
        )
        result.notes = [
            *(f"While the registry answered {status}: {text}." for status, text in said.items()),
            *(
                f"Requests the relay answered {status} in each outage, with the seconds "
                f"between them: {'; '.join(_spacing(gaps) for gaps in outages_gaps)}."
                for status, outages_gaps in retries.items()
                if outages_gaps
            ),
            *_retry_after_note(retries[429]),
            *(f"- {failure}" for failure in failures),
        ]
    assert failures == []


async def _outage(
    scenario: Scenario,
    relay: HttpFaultRelay,
    pusher: Pusher,
    declared: Declared,
    status: int,
    outage: int,
) -> tuple[float, float, str, list[float]]:
    """One outage answering ``status``; the seconds from the request until both objects
    told what happened, from the relay's return to pass-through until the new artifact
    was applied, what they told, and the seconds between the requests the relay failed."""
    kube, namespace = scenario.kube, scenario.namespace
    ref = ObjectRef(SOURCE_API, "OCIRepository", "app", namespace)
    good = (await kube.get(ref))["status"]["artifact"]
    failed_from = len(relay.answered)
    relay.fail(status, retry_after=RETRY_AFTER_SECONDS)
    removed = sorted(declared)[0]
    del declared[removed]
    digest = pusher.push(declared)
    requested = f"outage-{outage}-{time.time()}"
    start = time.monotonic()
    for kind in ("ocirepository/app", "kustomization/apps"):
        await scenario.kubectl(
            "annotate", "--overwrite", kind, f"reconcile.fluxcd.io/requestedAt={requested}"
        )
    repository = await eventually(
        lambda: kube.get(ref),
        lambda obj: _handled(obj, requested) and _condition(obj, "Ready").get("status") == "False",
        within=60,
        what=f"the OCIRepository's failed fetch ({status})",
    )
    kustomization = await eventually(
        lambda: kube.get(scenario.ref("apps")),
        lambda obj: _handled(obj, requested),
        within=60,
        what="the Kustomization's handled request",
    )
    seen = time.monotonic() - start
    ready, fetch = _condition(repository, "Ready"), _condition(repository, "FetchFailed")
    message = ready.get("message", "")
    assert relay.host in message, f"Ready does not name the registry: {ready}"
    assert f"HTTP {status}" in message, f"Ready does not name the status {status}: {ready}"
    assert fetch.get("status") == "True", f"no FetchFailed condition: {fetch}"
    assert repository["status"]["artifact"] == good, "the last good artifact was replaced"
    ks_ready = _condition(kustomization, "Ready")
    assert ks_ready.get("status") == "True", f"the Kustomization is not Ready: {ks_ready}"
    assert good["revision"] in ks_ready.get("message", ""), ks_ready
    live = await kube.list("v1", "ConfigMap", namespace=namespace)
    assert {obj["metadata"]["name"] for obj in live} >= {*declared, removed}, "pruned while down"
    await asyncio.sleep(HELD_SECONDS)
    relay.pass_through()
    start = time.monotonic()
    await applied(scenario, "apps", digest, within=60)
    back = time.monotonic() - start
    failed = relay.answered[failed_from:]
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(failed)]
    said = (
        f"OCIRepository Ready=False ({ready['reason']}): {message}; "
        f"Kustomization Ready={ks_ready['status']} ({ks_ready['reason']}): {ks_ready['message']}"
    )
    return seen, back, said, gaps
