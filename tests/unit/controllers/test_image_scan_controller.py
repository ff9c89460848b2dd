"""The ImageRepository controller against an in-memory registry and API: status of a scan,
no write for an unchanged rescan, the tag store and its notifications, failures."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from ground.tls import TlsMaterial
from lockstep.api.image import ImageRepository, ImageRepositorySpec
from lockstep.api.meta import RECONCILE_REQUEST_ANNOTATION
from lockstep.controllers.image.repository import (
    ImageRepositoryReconciler,
    registry_options,
    scan_timeout,
)
from lockstep.controllers.image.tags import ImageTagStore
from lockstep.kube import ObjectRef
from lockstep.runtime.informer import ObjectKey
from lockstep.runtime.queue import Success, TerminalFailure, TransientFailure
from lockstep.sources.image_names import parse_image_name
from unit.controllers.image_fakes import (
    NAMESPACE,
    FakeCache,
    FakeKube,
    condition_types,
    docker_config,
    ready,
)
from unit.sources.image_registry import USER, ImageRegistry

HOST = "registry.test"
KEY = (NAMESPACE, "app")


def image_repository(generation: int = 1, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "image.toolkit.fluxcd.io/v1",
        "kind": "ImageRepository",
        "metadata": {"name": "app", "namespace": NAMESPACE, "generation": generation},
        "spec": {"image": f"{HOST}/team/app", "interval": "5m", **spec},
    }


class Setup:
    def __init__(self, registry: ImageRegistry, *objects: dict[str, Any]) -> None:
        self.registry = registry
        self.cache = FakeCache(*objects)
        self.kube = FakeKube(self.cache)
        self.changed: list[ObjectKey] = []
        self.reconciler = self.restart()

    def restart(self) -> ImageRepositoryReconciler:
        """A new process: an empty tag store, the same API."""
        self.tags = ImageTagStore()
        self.tags.subscribe(self.changed.append)
        self.reconciler = ImageRepositoryReconciler(
            self.kube.client(), self.cache, self.tags, self.registry.transport
        )
        return self.reconciler

    @property
    def stored(self) -> dict[str, Any]:
        obj = self.cache.get(KEY)
        assert obj is not None
        return obj


@pytest.fixture
def registry() -> ImageRegistry:
    registry = ImageRegistry(host=HOST)
    registry.push("team/app", "1.2.1", "1.2.2", "1.3.0", "sha256-abc.sig")
    return registry


async def test_a_scan_reports_the_tags_and_fills_the_store(registry: ImageRegistry) -> None:
    setup = Setup(registry, image_repository())

    outcome = await setup.reconciler.reconcile(KEY)

    assert outcome == Success(requeue_after=300)
    status = setup.stored["status"]
    assert status["canonicalImageName"] == f"{HOST}/team/app"
    assert status["observedExclusionList"] == [r"^.*\.sig$"]
    assert status["observedGeneration"] == 1
    result = status["lastScanResult"]
    assert result["tagCount"] == 3
    assert result["latestTags"] == ["1.3.0", "1.2.2", "1.2.1"]
    assert result["revision"] == "1019872430"
    assert result["scanTime"].endswith("Z")
    assert ready(setup.stored)["status"] == "True"
    assert ready(setup.stored)["reason"] == "Succeeded"
    scanned = setup.tags.get(KEY)
    assert scanned is not None
    assert scanned.tags == ("1.3.0", "1.2.2", "1.2.1")
    assert scanned.image == f"{HOST}/team/app"
    assert setup.changed == [KEY]
    assert [event["reason"] for event in setup.kube.events] == ["Succeeded"]


async def test_a_rescan_finding_the_same_tags_writes_nothing(registry: ImageRegistry) -> None:
    setup = Setup(registry, image_repository())
    await setup.reconciler.reconcile(KEY)

    assert await setup.reconciler.reconcile(KEY) == Success(requeue_after=300)

    assert len(setup.kube.status_writes) == 1
    assert setup.changed == [KEY]
    assert len(setup.kube.events) == 1


async def test_after_a_restart_the_first_scan_refills_the_store_without_a_write(
    registry: ImageRegistry,
) -> None:
    setup = Setup(registry, image_repository())
    await setup.reconciler.reconcile(KEY)

    await setup.restart().reconcile(KEY)

    assert len(setup.kube.status_writes) == 1
    assert setup.changed == [KEY, KEY]
    assert setup.tags.get(KEY) is not None


async def test_a_new_tag_is_a_new_scan_result(registry: ImageRegistry) -> None:
    setup = Setup(registry, image_repository())
    await setup.reconciler.reconcile(KEY)
    before = setup.stored["status"]["lastScanResult"]

    registry.push("team/app", "1.2.3")
    await setup.reconciler.reconcile(KEY)

    after = setup.stored["status"]["lastScanResult"]
    assert after["tagCount"] == 4
    assert after["latestTags"][:2] == ["1.3.0", "1.2.3"]
    assert after["revision"] != before["revision"]
    assert setup.changed == [KEY, KEY]
    assert [event["type"] for event in setup.kube.events] == ["Normal", "Normal"]


async def test_a_reconcile_request_is_answered_in_status(registry: ImageRegistry) -> None:
    obj = image_repository()
    obj["metadata"]["annotations"] = {RECONCILE_REQUEST_ANNOTATION: "now"}
    setup = Setup(registry, obj)
    await setup.reconciler.reconcile(KEY)
    assert setup.stored["status"]["lastHandledReconcileAt"] == "now"


async def test_credentials_come_from_the_docker_config_secret(registry: ImageRegistry) -> None:
    registry.auth = "basic"
    setup = Setup(registry, image_repository(secretRef={"name": "creds"}))
    setup.kube.add_secret("creds", docker_config(HOST, USER.username, USER.password))

    assert await setup.reconciler.reconcile(KEY) == Success(requeue_after=300)
    assert setup.stored["status"]["lastScanResult"]["tagCount"] == 3


async def test_wrong_credentials_fail_and_are_retried_at_least_every_interval(
    registry: ImageRegistry,
) -> None:
    registry.auth = "basic"
    setup = Setup(registry, image_repository(secretRef={"name": "creds"}))
    setup.kube.add_secret("creds", docker_config(HOST, USER.username, "wrong"))

    assert await setup.reconciler.reconcile(KEY) == TransientFailure(max_delay=300)

    condition = ready(setup.stored)
    assert (condition["status"], condition["reason"]) == ("False", "AuthenticationFailed")
    assert condition["message"].startswith("ImageRepository flux-system/app: ")
    assert "check the credentials" in condition["message"]
    assert "Reconciling" in condition_types(setup.stored)
    assert setup.tags.get(KEY) is None


async def test_credentials_come_from_the_service_account_pull_secrets(
    registry: ImageRegistry,
) -> None:
    registry.auth = "basic"
    setup = Setup(registry, image_repository(serviceAccountName="puller"))
    setup.kube.secrets[ObjectRef("v1", "ServiceAccount", "puller", NAMESPACE)] = {
        "imagePullSecrets": [{"name": "elsewhere"}, {"name": "creds"}]
    }
    setup.kube.add_secret("elsewhere", docker_config("other.test", "x", "y"))
    setup.kube.add_secret("creds", docker_config(HOST, USER.username, USER.password))

    assert await setup.reconciler.reconcile(KEY) == Success(requeue_after=300)
    assert setup.stored["status"]["lastScanResult"]["tagCount"] == 3


async def test_a_missing_service_account_says_to_create_it(registry: ImageRegistry) -> None:
    setup = Setup(registry, image_repository(serviceAccountName="puller"))

    assert await setup.reconciler.reconcile(KEY) == TransientFailure(max_delay=300)
    condition = ready(setup.stored)
    assert (condition["status"], condition["reason"]) == ("False", "AuthenticationFailed")
    assert (
        "ServiceAccount flux-system/puller named in spec.serviceAccountName"
        in (condition["message"])
    )


async def test_cert_and_proxy_secrets_shape_the_registry_options(
    registry: ImageRegistry, tls_material: TlsMaterial
) -> None:
    obj = image_repository(certSecretRef={"name": "tls"}, proxySecretRef={"name": "proxy"})
    setup = Setup(registry, obj)
    setup.kube.add_secret("tls", {"ca.crt": tls_material.ca})
    setup.kube.add_secret(
        "proxy", {"address": b"http://proxy.test:3128", "username": b"u", "password": b"p@ss"}
    )
    repository = ImageRepository.model_validate(obj)

    options = await registry_options(
        setup.kube.client(), repository, parse_image_name(f"{HOST}/team/app")
    )

    assert options.proxy is not None
    assert options.proxy.url == "http://u:p%40ss@proxy.test:3128"
    assert options.tls is not None
    assert (options.tls.ca, options.tls.keep_system_roots) == (tls_material.ca, False)
    assert not options.skip_tls_verify


async def test_a_proxy_secret_without_an_address_fails_naming_it(registry: ImageRegistry) -> None:
    setup = Setup(registry, image_repository(proxySecretRef={"name": "proxy"}))
    setup.kube.add_secret("proxy", {"username": b"u"})

    assert await setup.reconciler.reconcile(KEY) == TransientFailure(max_delay=300)
    assert "Secret flux-system/proxy has no 'address' key" in ready(setup.stored)["message"]
    assert registry.requests == []


async def test_a_missing_secret_says_to_create_it(registry: ImageRegistry) -> None:
    setup = Setup(registry, image_repository(secretRef={"name": "creds"}))
    assert await setup.reconciler.reconcile(KEY) == TransientFailure(max_delay=300)
    assert (
        ready(setup.stored)["message"]
        == "Secret flux-system/creds named in spec.secretRef of ImageRepository flux-system/app "
        "does not exist; create it"
    )


async def test_a_busy_registry_keeps_the_last_tags_and_backs_off(registry: ImageRegistry) -> None:
    setup = Setup(registry, image_repository())
    await setup.reconciler.reconcile(KEY)
    registry.fault = lambda request: httpx2.Response(429)

    assert await setup.reconciler.reconcile(KEY) == TransientFailure(max_delay=300)

    condition = ready(setup.stored)
    assert (condition["status"], condition["reason"]) == ("False", "ReadOperationFailed")
    assert "HTTP 429" in condition["message"]
    assert setup.stored["status"]["lastScanResult"]["tagCount"] == 3
    assert setup.tags.get(KEY) is not None
    assert setup.kube.events[-1]["type"] == "Warning"


@pytest.mark.parametrize(
    ("spec", "reason", "says"),
    [
        (
            {"provider": "aws"},
            "UnsupportedProvider",
            "spec.provider 'aws' needs cloud identity, not supported yet",
        ),
        ({"image": "https://ghcr.io/acme/app"}, "ImageURLInvalid", "remove 'https://'"),
        ({"exclusionList": ["("]}, "ExclusionListInvalid", "spec.exclusionList pattern '('"),
    ],
)
async def test_what_only_a_spec_change_can_fix_is_stalled(
    registry: ImageRegistry, spec: dict[str, Any], reason: str, says: str
) -> None:
    setup = Setup(registry, image_repository(**spec))

    assert await setup.reconciler.reconcile(KEY) == TerminalFailure()

    condition = ready(setup.stored)
    assert (condition["status"], condition["reason"]) == ("False", reason)
    assert says in condition["message"]
    assert "Stalled" in condition_types(setup.stored)
    assert registry.requests == []


async def test_an_empty_exclusion_list_still_drops_signatures(registry: ImageRegistry) -> None:
    setup = Setup(registry, image_repository(exclusionList=[]))
    await setup.reconciler.reconcile(KEY)
    assert setup.stored["status"]["lastScanResult"]["tagCount"] == 3


async def test_a_suspended_repository_is_not_scanned(registry: ImageRegistry) -> None:
    setup = Setup(registry, image_repository(suspend=True))
    assert await setup.reconciler.reconcile(KEY) == Success()
    assert registry.requests == []
    assert setup.kube.status_writes == []


async def test_a_deleted_repository_drops_its_tags(registry: ImageRegistry) -> None:
    setup = Setup(registry, image_repository())
    await setup.reconciler.reconcile(KEY)
    del setup.cache.objects[KEY]

    assert await setup.reconciler.reconcile(KEY) == Success()

    assert setup.tags.get(KEY) is None
    assert setup.changed == [KEY, KEY]


def test_the_scan_time_limit_defaults_to_the_interval() -> None:
    assert scan_timeout(ImageRepositorySpec(image="a", interval="5m")) == 300
    assert scan_timeout(ImageRepositorySpec(image="a", interval="5m", timeout="30s")) == 30
    assert scan_timeout(ImageRepositorySpec(image="a", interval="5m", timeout="10ms")) == 1
