"""The Receiver controller: webhook path and status from the token Secret, lookup by path,
and reconcile requests on the objects of ``spec.resources``."""

from __future__ import annotations

import base64
import copy
from typing import Any, cast

import pytest

from lockstep.api.notification import Receiver, ReceiverTarget
from lockstep.controllers.notification.receiver import (
    NotServing,
    ReceiverReconciler,
    Webhooks,
    target_api_version,
    webhook_path,
)
from lockstep.kube import Invalid, KubeClient, KubeObject, NotFound, ObjectRef
from lockstep.runtime.informer import ObjectKey
from lockstep.runtime.queue import Success, TerminalFailure, TransientFailure

NAMESPACE = "flux-system"
TOKEN = b"s3cr3t"
PATH = "/hook/605dbd4976c3504a20afec155a68122702621389b3b29f71feb118008a1696a1"
"""sha256sum of 's3cr3tgithub-receiverflux-system', computed outside Python."""


class FakeKube:
    """The calls the receiver controller makes, against objects in a dict."""

    def __init__(self, *objects: KubeObject) -> None:
        self.objects = {ObjectRef.of(obj): copy.deepcopy(obj) for obj in objects}
        self.status_writes: list[KubeObject] = []
        self.patches: list[tuple[ObjectRef, list[KubeObject]]] = []
        self.events: list[KubeObject] = []
        self.fail_tests = 0
        """How many coming patches fail their ``test`` operation, as if the object changed."""

    async def get(self, ref: ObjectRef) -> KubeObject:
        if ref not in self.objects:
            raise NotFound(f'{ref.kind.lower()}s "{ref.name}" not found', code=404)
        return copy.deepcopy(self.objects[ref])

    async def list(
        self, api_version: str, kind: str, *, namespace: str, labels: dict[str, str]
    ) -> list[KubeObject]:
        return [
            obj
            for ref, obj in self.objects.items()
            if (ref.api_version, ref.kind, ref.namespace) == (api_version, kind, namespace)
            and labels.items() <= (obj["metadata"].get("labels") or {}).items()
        ]

    async def json_patch(self, ref: ObjectRef, operations: list[KubeObject]) -> KubeObject:
        self.patches.append((ref, operations))
        if any(op["op"] == "test" for op in operations) and self.fail_tests:
            self.fail_tests -= 1
            raise Invalid("test failed", code=422)
        metadata = self.objects[ref]["metadata"]
        for op in operations:
            if op["path"] == "/metadata/annotations":
                metadata["annotations"] = dict(op["value"])
            elif op["path"].startswith("/metadata/annotations/"):
                key = op["path"].removeprefix("/metadata/annotations/").replace("~1", "/")
                metadata["annotations"][key] = op["value"]
        return self.objects[ref]

    async def apply_status(self, obj: KubeObject) -> KubeObject:
        self.status_writes.append(copy.deepcopy(obj))
        return obj

    async def create(self, obj: KubeObject) -> KubeObject:
        self.events.append(obj)
        return obj

    def client(self) -> KubeClient:
        return cast(KubeClient, self)


class FakeCache:
    def __init__(self, *objects: KubeObject) -> None:
        self.objects = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objects}

    def get(self, key: ObjectKey) -> KubeObject | None:
        return self.objects.get(key)

    def items(self) -> list[KubeObject]:
        return list(self.objects.values())


def secret(data: dict[str, bytes], name: str = "webhook-token") -> KubeObject:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "data": {key: base64.b64encode(value).decode() for key, value in data.items()},
    }


def receiver(
    type_: str = "github", status: KubeObject | None = None, **spec: Any
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "notification.toolkit.fluxcd.io/v1",
        "kind": "Receiver",
        "metadata": {"name": "github-receiver", "namespace": NAMESPACE, "generation": 2},
        "spec": {
            "type": type_,
            "interval": "10m",
            "secretRef": {"name": "webhook-token"},
            "resources": [{"kind": "GitRepository", "name": "repo"}],
            **spec,
        },
    }
    if status is not None:
        obj["status"] = status
    return obj


def git_repository(
    name: str, annotations: dict[str, str] | None = None, **labels: str
) -> KubeObject:
    metadata: dict[str, Any] = {"name": name, "namespace": NAMESPACE, "resourceVersion": "7"}
    if annotations is not None:
        metadata["annotations"] = annotations
    if labels:
        metadata["labels"] = labels
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": metadata,
    }


KEY = (NAMESPACE, "github-receiver")


def _ready(status: KubeObject) -> KubeObject:
    return next(c for c in status["conditions"] if c["type"] == "Ready")


def test_webhook_path_is_sha256_of_token_name_and_namespace() -> None:
    assert webhook_path(TOKEN, "github-receiver", NAMESPACE) == PATH


async def test_ready_with_the_webhook_path_written_once() -> None:
    kube = FakeKube(secret({"token": TOKEN}))
    obj = receiver()
    outcome = await ReceiverReconciler(kube.client(), FakeCache(obj)).reconcile(KEY)

    assert outcome == Success(requeue_after=600)
    [written] = kube.status_writes
    status = written["status"]
    assert status["webhookPath"] == PATH
    assert status["observedGeneration"] == 2
    ready = _ready(status)
    assert (ready["status"], ready["reason"]) == ("True", "Succeeded")
    assert ready["message"] == f"Receiver initialized for path: {PATH}"
    assert [event["reason"] for event in kube.events] == ["Succeeded"]

    # Nothing changed since: the same status is not written again.
    again = FakeCache(receiver(status=status))
    assert await ReceiverReconciler(kube.client(), again).reconcile(KEY) == Success(600)
    assert len(kube.status_writes) == 1


@pytest.mark.parametrize(
    ("secrets", "expected"),
    [
        (
            (),
            "Secret flux-system/webhook-token named in spec.secretRef of Receiver flux-system/github-receiver does not exist",
        ),
        ((secret({"other": b"x"}),), "has no 'token' key"),
    ],
)
async def test_not_ready_without_a_token(secrets: tuple[KubeObject, ...], expected: str) -> None:
    kube = FakeKube(*secrets)
    previous = {"webhookPath": PATH, "observedGeneration": 1, "conditions": []}
    cache = FakeCache(receiver(status=previous))
    outcome = await ReceiverReconciler(kube.client(), cache).reconcile(KEY)

    assert outcome == TransientFailure(max_delay=600)
    status = kube.status_writes[0]["status"]
    assert "webhookPath" not in status
    assert status["observedGeneration"] == 1, "observedGeneration is that of the last success"
    ready = _ready(status)
    assert (ready["status"], ready["reason"]) == ("False", "TokenNotFound")
    assert expected in ready["message"]
    assert "Reconciling" in {c["type"] for c in status["conditions"]}


async def test_unsupported_type_stalls() -> None:
    kube = FakeKube(secret({"token": TOKEN}))
    outcome = await ReceiverReconciler(kube.client(), FakeCache(receiver("quay"))).reconcile(KEY)

    assert outcome == TerminalFailure()
    status = kube.status_writes[0]["status"]
    assert _ready(status)["reason"] == "UnsupportedType"
    assert "use one of generic, generic-hmac, github, gitlab" in _ready(status)["message"]
    assert "Stalled" in {c["type"] for c in status["conditions"]}


async def test_suspended_and_deleted_receivers_are_left_alone() -> None:
    kube = FakeKube(secret({"token": TOKEN}))
    suspended = FakeCache(receiver(suspend=True))
    assert await ReceiverReconciler(kube.client(), suspended).reconcile(KEY) == Success()
    assert await ReceiverReconciler(kube.client(), FakeCache()).reconcile(KEY) == Success()
    assert kube.status_writes == []


def test_find_by_webhook_path_only_once_serving() -> None:
    webhooks = Webhooks(FakeKube().client())
    with pytest.raises(NotServing):
        webhooks.find(PATH)
    other = receiver(status={"webhookPath": "/hook/" + "0" * 64})
    other["metadata"]["name"] = "other"
    new = receiver()
    new["metadata"]["name"] = "new"
    webhooks.serve_from(FakeCache(receiver(status={"webhookPath": PATH}), other, new))
    found = webhooks.find(PATH)
    assert found is not None
    assert found.metadata.name == "github-receiver"
    assert webhooks.find("/hook/" + "1" * 64) is None
    webhooks.serve_from(None)
    with pytest.raises(NotServing):
        webhooks.find(PATH)


async def test_reconcile_requests_set_the_annotation_on_every_target() -> None:
    kube = FakeKube(
        git_repository("repo", annotations={"team": "a"}),
        git_repository("bare"),
        git_repository("labelled", app="web"),
        git_repository("unlabelled"),
    )
    resources = [
        {"kind": "GitRepository", "name": "repo"},
        {"kind": "GitRepository", "name": "bare", "apiVersion": "source.toolkit.fluxcd.io/v1"},
        {"kind": "GitRepository", "name": "*", "matchLabels": {"app": "web"}},
        {"kind": "GitRepository", "name": "missing"},
    ]
    parsed = Receiver.model_validate(receiver(resources=resources))

    requested = await Webhooks(kube.client()).request_reconciliation(parsed)

    assert requested.objects == [
        "GitRepository/flux-system/repo",
        "GitRepository/flux-system/bare",
        "GitRepository/flux-system/labelled",
    ]
    assert len(requested.failures) == 1
    assert "GitRepository/flux-system/missing" in requested.failures[0]
    for name in ("repo", "bare", "labelled"):
        ref = ObjectRef("source.toolkit.fluxcd.io/v1", "GitRepository", name, NAMESPACE)
        annotations = kube.objects[ref]["metadata"]["annotations"]
        assert annotations["reconcile.fluxcd.io/requestedAt"]
    unlabelled = ObjectRef("source.toolkit.fluxcd.io/v1", "GitRepository", "unlabelled", NAMESPACE)
    assert "annotations" not in kube.objects[unlabelled]["metadata"]
    repo = ObjectRef("source.toolkit.fluxcd.io/v1", "GitRepository", "repo", NAMESPACE)
    assert kube.objects[repo]["metadata"]["annotations"]["team"] == "a", "others are kept"
    # Without annotations, the map is added only if the object is still the one read.
    bare_patch = next(ops for ref, ops in kube.patches if ref.name == "bare")
    assert bare_patch[0] == {"op": "test", "path": "/metadata/resourceVersion", "value": "7"}


async def test_an_object_that_changed_meanwhile_is_read_again() -> None:
    kube = FakeKube(git_repository("bare"))
    kube.fail_tests = 1
    parsed = Receiver.model_validate(receiver())
    parsed.spec.resources[0].name = "bare"

    requested = await Webhooks(kube.client()).request_reconciliation(parsed)

    assert requested.objects == ["GitRepository/flux-system/bare"]
    assert len(kube.patches) == 2


async def test_targets_that_cannot_be_resolved_fail_with_a_reason() -> None:
    resources = [
        {"kind": "GitRepository", "name": "*"},
        {"kind": "GitRepository", "name": "repo", "namespace": "tenant-b"},
    ]
    parsed = Receiver.model_validate(receiver(resources=resources))
    kube = FakeKube(git_repository("repo"))

    requested = await Webhooks(kube.client(), no_cross_namespace_refs=True).request_reconciliation(
        parsed
    )

    assert requested.objects == []
    assert "without matchLabels; add matchLabels" in requested.failures[0]
    assert "--no-cross-namespace-refs forbids" in requested.failures[1]


@pytest.mark.parametrize(
    ("kind", "api_version"),
    [
        ("GitRepository", "source.toolkit.fluxcd.io/v1"),
        ("Kustomization", "kustomize.toolkit.fluxcd.io/v1"),
        ("ImageRepository", "image.toolkit.fluxcd.io/v1"),
        ("HelmRelease", "helm.toolkit.fluxcd.io/v2"),
        ("Bucket", "source.toolkit.fluxcd.io/v1"),
    ],
)
def test_targets_without_api_version_get_the_current_one(kind: str, api_version: str) -> None:
    target = ReceiverTarget.model_validate({"kind": kind, "name": "x"})
    assert target_api_version(target) == api_version
