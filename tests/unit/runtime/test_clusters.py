"""The cluster registry's bookkeeping and the reading of kubeconfig Secrets: targets
from Secret data (Flux's keys), kubeconfigs refused for reaching outside the Secret,
one connection per target shared by its users, a new one when the credentials
change, and clusters closed when no object uses them any more."""

from __future__ import annotations

import asyncio
import base64
from typing import cast

import pytest
import yaml

from lockstep.kube import KubeClient
from lockstep.runtime.clusters import (
    LOCAL_CLUSTER,
    ClusterRegistry,
    ClusterTarget,
    ClusterUnavailable,
    parse_kubeconfig,
    target_from_secret,
)

WHERE = "kubeconfig Secret apps/prod"
A = ("apps", "web")
B = ("apps", "api")

KUBECONFIG = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [{"name": "prod", "cluster": {"server": "https://127.0.0.1:6443"}}],
    "users": [{"name": "admin", "user": {"token": "secret-token"}}],
    "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "admin"}}],
    "current-context": "prod",
}


def _encoded(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _target(text: str) -> ClusterTarget:
    return target_from_secret(WHERE, {"value": _encoded(text)}, ("value",))


class StubClient:
    """What the registry asks of a client: impersonating clients and closing."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.closed = False
        self.derived: list[StubClient] = []

    def impersonating(self, user: str) -> StubClient:
        derived = StubClient(f"{self.name} as {user}")
        self.derived.append(derived)
        return derived

    async def close(self) -> None:
        self.closed = True


class StubWatches:
    def __init__(self, client: KubeClient) -> None:
        self.client = client
        self.forgotten: list[tuple[str, str]] = []
        self.stopped = False

    def forget(self, owner: tuple[str, str]) -> None:
        self.forgotten.append(owner)

    async def stop(self) -> None:
        self.stopped = True


class Connector:
    """Connects each target to a new stub client, counting the attempts."""

    def __init__(self, failing: bool = False) -> None:
        self.made: list[StubClient] = []
        self.failing = failing

    async def __call__(self, target: ClusterTarget) -> KubeClient:
        await asyncio.sleep(0)
        if self.failing:
            raise ClusterUnavailable(f"the cluster of {target} cannot be used")
        client = StubClient(target.digest)
        self.made.append(client)
        return cast(KubeClient, client)


def _registry(
    connect: Connector,
) -> tuple[ClusterRegistry[StubWatches], StubClient, StubWatches]:
    local = StubClient("local")
    local_watches = StubWatches(cast(KubeClient, local))
    registry = ClusterRegistry(cast(KubeClient, local), local_watches, StubWatches, connect=connect)
    return registry, local, local_watches


def test_the_kubeconfig_is_read_from_value_then_value_yaml_unless_a_key_is_named() -> None:
    data = {"value.yaml": _encoded("second"), "value": _encoded("first")}
    assert target_from_secret(WHERE, data, ("value", "value.yaml")).kubeconfig == "first"
    del data["value"]
    only_yaml = target_from_secret(WHERE, data, ("value", "value.yaml"))
    assert only_yaml.kubeconfig == "second"
    assert only_yaml.name == WHERE
    assert only_yaml.digest.startswith("sha256:")
    assert not only_yaml.local
    named = target_from_secret(WHERE, {"config": _encoded("third")}, ("config",))
    assert named.kubeconfig == "third"


def test_a_secret_without_the_key_names_the_secret_and_the_keys() -> None:
    with pytest.raises(ClusterUnavailable) as raised:
        target_from_secret(WHERE, {"other": _encoded("x")}, ("value", "value.yaml"))
    assert str(raised.value) == (
        "kubeconfig Secret apps/prod has no key value or value.yaml; "
        "put the remote cluster's kubeconfig under value"
    )
    with pytest.raises(ClusterUnavailable, match="apps/prod: the entry value is not base64"):
        target_from_secret(WHERE, {"value": "not base64!"}, ("value",))


def test_the_digest_follows_the_content_and_the_kubeconfig_stays_out_of_messages() -> None:
    first, same, other = _target("a: 1"), _target("a: 1"), _target("a: 2")
    assert first == same
    assert hash(first) == hash(same)
    assert first != other
    assert "a: 1" not in repr(first)
    assert str(first) == WHERE
    assert LOCAL_CLUSTER.local
    assert LOCAL_CLUSTER.digest == ""


def test_a_kubeconfig_with_inline_credentials_is_accepted() -> None:
    assert parse_kubeconfig(_target(yaml.safe_dump(KUBECONFIG))) == KUBECONFIG


@pytest.mark.parametrize(
    ("section", "field", "value", "why"),
    [
        ("users", "exec", {"command": "steal"}, "runs a command on lockstep's host"),
        ("users", "tokenFile", "/etc/passwd", "use token"),
        ("users", "client-key", "/var/run/key", "use client-key-data"),
        ("clusters", "certificate-authority", "/ca.crt", "use certificate-authority-data"),
        ("clusters", "insecure-skip-tls-verify", True, "turns off TLS verification"),
    ],
)
def test_kubeconfigs_reaching_outside_the_secret_are_refused(
    section: str, field: str, value: object, why: str
) -> None:
    document = yaml.safe_load(yaml.safe_dump(KUBECONFIG))
    document[section][0][section[:-1]][field] = value
    with pytest.raises(ClusterUnavailable) as raised:
        parse_kubeconfig(_target(yaml.safe_dump(document)))
    message = str(raised.value)
    assert message.startswith(f"{WHERE}: the kubeconfig's {section[:-1]} ")
    assert f"sets {field}, which" in message
    assert why in message


@pytest.mark.parametrize("text", ["clusters: [", "just text", "users: []"])
def test_what_is_not_a_kubeconfig_is_refused_naming_the_secret(text: str) -> None:
    with pytest.raises(ClusterUnavailable, match=f"^{WHERE} does not hold a"):
        parse_kubeconfig(_target(text))


async def test_users_of_one_target_share_one_connection() -> None:
    connect = Connector()
    registry, _, _ = _registry(connect)
    target = _target("one")
    first, second = await asyncio.gather(registry.use(A, target), registry.use(B, target))
    assert first is second
    assert len(connect.made) == 1, "asked together, connected once"
    assert registry.remote == [target]
    assert sorted(registry.users(target)) == [B, A]
    assert first.watches is not None
    assert first.watches.client is first.client


async def test_new_credentials_connect_again_and_the_old_cluster_closes_when_unused() -> None:
    connect = Connector()
    registry, _, _ = _registry(connect)
    old, new = _target("old credentials"), _target("new credentials")
    before = await registry.use(A, old)
    await registry.use(B, old)

    after = await registry.use(A, new)
    assert after is not before
    assert len(connect.made) == 2
    old_client = cast(StubClient, before.client)
    assert not old_client.closed, "B still uses the old credentials"
    assert before.watches is not None
    assert before.watches.forgotten == [A]

    await registry.use(B, new)
    assert old_client.closed
    assert before.watches.stopped
    assert registry.remote == [new]


async def test_a_released_cluster_closes_with_its_impersonating_clients() -> None:
    connect = Connector()
    registry, _, _ = _registry(connect)
    cluster = await registry.use(A, _target("one"))
    acting = cast(StubClient, cluster.as_user("system:serviceaccount:apps:deployer"))
    assert cluster.as_user("system:serviceaccount:apps:deployer") is cast(KubeClient, acting)
    assert cluster.as_user(None) is cluster.client

    await registry.release(A)
    assert acting.closed
    assert cast(StubClient, cluster.client).closed
    assert registry.remote == []
    await registry.release(A)


async def test_the_local_cluster_is_never_closed_by_the_registry() -> None:
    connect = Connector()
    registry, local, local_watches = _registry(connect)
    cluster = await registry.use(A, LOCAL_CLUSTER)
    assert cluster is registry.local
    assert connect.made == []
    acting = cast(StubClient, cluster.as_user("system:serviceaccount:apps:deployer"))

    remote = await registry.use(A, _target("one"))
    assert local_watches.forgotten == [A], "moving away forgets A's objects there"
    assert not local.closed
    assert not local_watches.stopped

    await registry.close()
    assert not local.closed
    assert not local_watches.stopped
    assert acting.closed, "the local cluster's impersonating clients are closed"
    assert cast(StubClient, remote.client).closed


async def test_a_failed_connection_leaves_nothing_behind() -> None:
    registry, _, _ = _registry(Connector(failing=True))
    target = _target("one")
    with pytest.raises(ClusterUnavailable, match=WHERE):
        await registry.use(A, target)
    assert registry.remote == []
    assert registry.users(target) == []


async def test_the_cluster_held_for_a_user_is_the_one_it_used_last_while_connected() -> None:
    registry, _, _ = _registry(Connector())
    assert registry.held(A) is None
    assert await registry.use(A, LOCAL_CLUSTER) is registry.held(A)
    remote = await registry.use(A, _target("one"))
    assert registry.held(A) is remote
    await registry.release(A)
    assert registry.held(A) is None
