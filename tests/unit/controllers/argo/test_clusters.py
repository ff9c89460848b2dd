"""Argo CD's cluster Secrets read into clusters, and an Application's destination resolved
among them (:mod:`lockstep.controllers.argo.clusters`), and the Secret ``lockstep cluster
add`` writes read back the same way."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import yaml

from lockstep.cli.cluster import cluster_secret, secret_name
from lockstep.cli.context import UserError
from lockstep.controllers.argo.clusters import (
    IN_CLUSTER,
    IN_CLUSTER_SERVER,
    ClusterSecretError,
    DestinationError,
    cluster_of_secret,
    resolve_destination,
    sends_to,
)
from lockstep.runtime.clusters import parse_kubeconfig

CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n").decode()
CERT = base64.b64encode(b"cert").decode()
KEY = base64.b64encode(b"key").decode()


def _secret(name: str = "prod", server: str = "https://prod:6443", **data: Any) -> dict[str, Any]:
    values = {"name": name, "server": server, **data}
    encoded = {
        k: base64.b64encode((v if isinstance(v, str) else json.dumps(v)).encode()).decode()
        for k, v in values.items()
        if v is not None
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": f"cluster-{name}",
            "namespace": "argocd",
            "labels": {"argocd.argoproj.io/secret-type": "cluster"},
        },
        "data": encoded,
    }


def _user_and_cluster(secret: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    target = cluster_of_secret(secret).target
    document = parse_kubeconfig(target)
    return document["users"][0]["user"], document["clusters"][0]["cluster"]


def test_a_bearer_token_and_ca_become_a_kubeconfig_reaching_the_server() -> None:
    secret = _secret(config={"bearerToken": "t0k", "tlsClientConfig": {"caData": CA}})
    cluster = cluster_of_secret(secret)
    assert (cluster.name, cluster.server, cluster.secret) == (
        "prod",
        "https://prod:6443",
        "argocd/cluster-prod",
    )
    assert not cluster.target.local
    assert str(cluster.target) == "cluster Secret argocd/cluster-prod"
    user, server = _user_and_cluster(secret)
    assert user == {"token": "t0k"}
    assert server == {"server": "https://prod:6443", "certificate-authority-data": CA}


def test_basic_auth_and_client_certificates_are_embedded() -> None:
    basic = _secret(config={"username": "admin", "password": "pw"})
    assert _user_and_cluster(basic)[0] == {"username": "admin", "password": "pw"}
    certificate = _secret(config={"tlsClientConfig": {"certData": CERT, "keyData": KEY}})
    assert _user_and_cluster(certificate)[0] == {
        "client-certificate-data": CERT,
        "client-key-data": KEY,
    }


def test_new_credentials_are_a_new_target() -> None:
    one = cluster_of_secret(_secret(config={"bearerToken": "one"}))
    two = cluster_of_secret(_secret(config={"bearerToken": "two"}))
    again = cluster_of_secret(_secret(config={"bearerToken": "one"}))
    assert one.target != two.target
    assert one.target == again.target


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ("{not json", "config is not JSON"),
        ("[]", "config must be a JSON object"),
        ({"execProviderConfig": {"command": "aws"}}, "config.execProviderConfig runs a command"),
        ({"tlsClientConfig": {"insecure": True}}, "tlsClientConfig.insecure turns off TLS"),
        ({"tlsClientConfig": {"serverName": "x"}}, "serverName is not supported yet"),
        ({"tlsClientConfig": {"certData": CERT}}, "set both"),
        ({"tlsClientConfig": {"caData": "not base64!"}}, "caData is not base64"),
        ({"username": "admin"}, "set both"),
    ],
)
def test_a_config_that_cannot_be_used_is_one_line_naming_the_secret(
    config: Any, expected: str
) -> None:
    with pytest.raises(ClusterSecretError) as raised:
        cluster_of_secret(_secret(config=config))
    message = str(raised.value)
    assert message.startswith("cluster Secret argocd/cluster-prod")
    assert expected in message
    assert "\n" not in message


def test_a_secret_without_server_is_refused() -> None:
    with pytest.raises(ClusterSecretError, match="has no server; set the key server"):
        cluster_of_secret(_secret(server=None))


def test_namespaces_limit_what_is_managed_there() -> None:
    cluster = cluster_of_secret(_secret(config={}, namespaces="apps, web"))
    assert cluster.namespaces == ("apps", "web")
    assert cluster.refuses("apps") is None
    assert "namespace other is not managed on cluster prod" in (cluster.refuses("other") or "")
    assert "clusterResources" in (cluster.refuses(None) or "")
    everything = cluster_of_secret(_secret(config={}, namespaces="apps", clusterResources="true"))
    assert everything.refuses(None) is None
    assert cluster_of_secret(_secret(config={})).refuses("any") is None


def test_a_secret_of_the_in_cluster_server_renames_the_local_cluster() -> None:
    cluster = cluster_of_secret(_secret(name="local", server=IN_CLUSTER_SERVER))
    assert cluster.target.local
    assert cluster.name == "local"


SECRETS = [
    _secret("prod", "https://prod:6443", config={}),
    _secret("staging", "https://staging:6443", config={}),
    _secret("broken", "https://broken:6443", config="{"),
]


def test_a_destination_resolves_by_name_or_by_server() -> None:
    assert resolve_destination(None, "prod", SECRETS).server == "https://prod:6443"
    assert resolve_destination("https://staging:6443/", None, SECRETS).name == "staging"


def test_the_local_cluster_needs_no_secret() -> None:
    assert resolve_destination(IN_CLUSTER_SERVER, None, SECRETS) is IN_CLUSTER
    assert resolve_destination(None, "in-cluster", SECRETS) is IN_CLUSTER
    assert resolve_destination(IN_CLUSTER_SERVER + "/", None, []) is IN_CLUSTER


@pytest.mark.parametrize(
    ("server", "name", "expected"),
    [
        (None, "nowhere", "no cluster has the name nowhere; add it with lockstep cluster add"),
        ("https://elsewhere", None, "no cluster has the server https://elsewhere"),
        ("https://prod:6443", "prod", "sets both server https://prod:6443 and name prod"),
        (None, None, "sets neither server nor name"),
    ],
)
def test_a_destination_naming_no_single_cluster_says_what_to_fix(
    server: str | None, name: str | None, expected: str
) -> None:
    with pytest.raises(DestinationError, match=expected):
        resolve_destination(server, name, SECRETS)


def test_several_secrets_of_one_server_are_refused() -> None:
    twice = [*SECRETS, _secret("prod-again", "https://prod:6443", config={})]
    with pytest.raises(DestinationError, match=r"2 cluster Secrets have the server"):
        resolve_destination("https://prod:6443", None, twice)


def test_only_the_secret_chosen_is_read_whole() -> None:
    assert resolve_destination(None, "staging", SECRETS).name == "staging"
    with pytest.raises(ClusterSecretError, match="argocd/cluster-broken: config is not JSON"):
        resolve_destination(None, "broken", SECRETS)


def test_secrets_without_the_label_are_not_clusters() -> None:
    unlabelled = _secret("hidden", "https://hidden:6443", config={})
    unlabelled["metadata"]["labels"] = {}
    with pytest.raises(DestinationError):
        resolve_destination(None, "hidden", [unlabelled])


def test_an_application_is_sent_to_a_secret_by_name_or_server() -> None:
    by_name = {"spec": {"destination": {"name": "prod"}}}
    by_server = {"spec": {"destination": {"server": "https://prod:6443/"}}}
    local = {"spec": {"destination": {"server": IN_CLUSTER_SERVER}}}
    assert sends_to(by_name, [SECRETS[0]])
    assert sends_to(by_server, [None, SECRETS[0]])
    assert not sends_to(local, [SECRETS[0]])
    assert not sends_to(by_name, [SECRETS[1], None])


def _context(user: dict[str, Any], **cluster: Any) -> dict[str, Any]:
    return {
        "clusters": [{"name": "c", "cluster": {"server": "https://prod:6443", **cluster}}],
        "users": [{"name": "c", "user": user}],
        "contexts": [{"name": "prod-admin", "context": {"cluster": "c", "user": "c"}}],
    }


def test_cluster_add_writes_a_secret_the_engine_reads_back() -> None:
    document = _context(
        {"client-certificate-data": CERT, "client-key-data": KEY},
        **{"certificate-authority-data": CA},
    )
    secret = cluster_secret(document, "prod-admin", "prod", "argocd")
    assert secret["metadata"]["name"] == secret_name("https://prod:6443")
    assert secret["metadata"]["labels"] == {"argocd.argoproj.io/secret-type": "cluster"}
    data = {k: base64.b64encode(v.encode()).decode() for k, v in secret["stringData"].items()}
    cluster = cluster_of_secret({**secret, "data": data})
    assert (cluster.name, cluster.server) == ("prod", "https://prod:6443")
    kubeconfig = yaml.safe_load(cluster.target.kubeconfig or "")
    assert kubeconfig["users"][0]["user"] == {
        "client-certificate-data": CERT,
        "client-key-data": KEY,
    }
    assert kubeconfig["clusters"][0]["cluster"]["certificate-authority-data"] == CA


def test_cluster_add_names_one_secret_per_server() -> None:
    assert secret_name("https://127.0.0.1:6443") == secret_name("https://127.0.0.1:6443/")
    assert secret_name("https://127.0.0.1:6443").startswith("cluster-127.0.0.1-")
    assert secret_name("https://a:1") != secret_name("https://a:2")


@pytest.mark.parametrize(
    ("user", "cluster", "expected"),
    [
        ({"exec": {"command": "aws"}}, {}, "its credentials come from an exec plugin"),
        ({"auth-provider": {"name": "gcp"}}, {}, "come from an auth provider"),
        ({"token": "t"}, {"insecure-skip-tls-verify": True}, "skips TLS verification"),
    ],
)
def test_cluster_add_refuses_credentials_it_cannot_embed(
    user: dict[str, Any], cluster: dict[str, Any], expected: str
) -> None:
    with pytest.raises(UserError, match=f"context prod-admin.*{expected}"):
        cluster_secret(_context(user, **cluster), "prod-admin", "prod", "argocd")
