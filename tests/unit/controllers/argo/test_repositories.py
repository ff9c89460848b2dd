"""Argo CD's repository Secrets for an Application's sources: which Secret serves a
source (an exact ``repository`` before templates, the longest template prefix, project
scoping), what it becomes under Flux's keys, and the source objects that carry it."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from lockstep.api.argo import ApplicationSource
from lockstep.controllers.argo.repositories import (
    KNOWN_HOSTS_CONFIGMAP,
    RepositoryCredentialsError,
    RepositorySecret,
    access_advice,
    concerned_applications,
    credentials_for,
    flux_secret_data,
    normalized_url,
    parse_secret,
    select,
    template_covers,
)
from lockstep.controllers.argo.sources import (
    CREDENTIALS_LABEL,
    application_source_objects,
    source_objects,
)

HOST_KEY = (
    "[127.0.0.1]:2222 ssh-ed25519 "
    "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
)


def raw_secret(name: str, kind: str = "repository", **values: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": "argocd",
            "uid": f"uid-{name}",
            "resourceVersion": "1",
            "labels": {"argocd.argoproj.io/secret-type": kind},
        },
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in values.items()},
    }


def secret(name: str, kind: str = "repository", **values: str) -> RepositorySecret:
    parsed = parse_secret(raw_secret(name, kind, **values))
    assert parsed is not None
    return parsed


def known_hosts(text: str = HOST_KEY) -> dict[str, Any]:
    return {
        "metadata": {"name": KNOWN_HOSTS_CONFIGMAP, "namespace": "argocd", "resourceVersion": "7"},
        "data": {"ssh_known_hosts": text},
    }


def ssh_key() -> str:
    key = ed25519.Ed25519PrivateKey.generate()
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()


# --- which Secret -------------------------------------------------------------------


def test_urls_compare_as_argo_cd_compares_them() -> None:
    same = normalized_url("https://git.example/Team/App.git/")
    assert same == normalized_url("https://git.example/team/app")
    assert normalized_url("git@git.example:team/app.git") == normalized_url(
        "ssh://git@git.example/team/app"
    )
    assert normalized_url("oci://registry.example/charts") == "registry.example/charts"


def test_a_template_covers_only_below_a_path_boundary() -> None:
    assert template_covers("https://git.example/team", "https://git.example/team/app.git")
    assert template_covers("https://git.example/team/", "https://git.example/team/app.git")
    assert template_covers("git@git.example:team", "ssh://git@git.example/team/app.git")
    assert not template_covers("https://git.example/team", "https://git.example/teams/app")
    assert not template_covers("https://git.example", "https://git.example.evil/app")
    assert not template_covers("https://git.example", "https://git.example:8443/app")


def test_an_exact_repository_secret_wins_over_templates() -> None:
    secrets = [
        secret("template", "repo-creds", url="https://git.example/team", username="t"),
        secret("exact", url="https://git.example/team/app.git", username="e"),
    ]
    repository, template = select("https://git.example/team/app", "default", secrets)
    assert repository is not None
    assert repository.name == "exact"

    credentials = credentials_for(
        "https://git.example/team/app", "default", "git", secrets, known_hosts=None
    )
    assert credentials is not None
    assert credentials.secret.name == "exact"
    assert credentials.data == {"username": "e"}
    assert template is not None
    assert template.name == "template"


def test_the_longest_template_prefix_wins() -> None:
    secrets = [
        secret("host", "repo-creds", url="https://git.example", username="host"),
        secret("team", "repo-creds", url="https://git.example/team", username="team"),
        secret("other", "repo-creds", url="https://git.example/other", username="other"),
    ]
    credentials = credentials_for(
        "https://git.example/team/app.git", "default", "git", secrets, known_hosts=None
    )
    assert credentials is not None
    assert credentials.secret.name == "team"


def test_a_repository_secret_without_credentials_takes_the_templates() -> None:
    secrets = [
        secret("declared", url="https://git.example/team/app.git", type="git"),
        secret("template", "repo-creds", url="https://git.example/team", username="t"),
    ]
    credentials = credentials_for(
        "https://git.example/team/app.git", "default", "git", secrets, known_hosts=None
    )
    assert credentials is not None
    assert credentials.secret.name == "template"


def test_a_secret_of_another_project_never_serves() -> None:
    secrets = [
        secret("theirs", url="https://git.example/app.git", username="t", project="payments"),
        secret(
            "theirs-template",
            "repo-creds",
            url="https://git.example",
            username="t",
            project="payments",
        ),
    ]
    assert (
        credentials_for("https://git.example/app.git", "frontend", "git", secrets, known_hosts=None)
        is None
    )
    mine = credentials_for(
        "https://git.example/app.git", "payments", "git", secrets, known_hosts=None
    )
    assert mine is not None
    assert mine.secret.name == "theirs"


def test_the_projects_own_secret_comes_before_an_unscoped_one() -> None:
    secrets = [
        secret("shared", url="https://git.example/app.git", username="shared"),
        secret("own", url="https://git.example/app.git", username="own", project="payments"),
    ]
    own = credentials_for("https://git.example/app.git", "payments", "git", secrets, None)
    shared = credentials_for("https://git.example/app.git", "frontend", "git", secrets, None)
    assert own is not None
    assert own.secret.name == "own"
    assert shared is not None
    assert shared.secret.name == "shared"


def test_no_matching_secret_gives_no_credentials() -> None:
    secrets = [secret("other", url="https://git.example/other.git", username="o")]
    assert credentials_for("https://git.example/app.git", "default", "git", secrets, None) is None


def test_a_cluster_secret_is_not_a_repository() -> None:
    assert parse_secret(raw_secret("cluster", "cluster", server="https://x")) is None


def test_the_applications_a_secret_concerns() -> None:
    def app(name: str, url: str) -> dict[str, Any]:
        return {
            "metadata": {"namespace": "team", "name": name},
            "spec": {"source": {"repoURL": url}},
        }

    apps = [app("a", "https://git.example/team/a.git"), app("b", "https://other.example/b")]
    template = raw_secret("t", "repo-creds", url="https://git.example/team")

    assert concerned_applications(template, None, apps) == [("team", "a")]
    moved = raw_secret("t", "repo-creds", url="https://elsewhere.example")
    assert concerned_applications(moved, template, apps) == [("team", "a")]


# --- what it becomes ----------------------------------------------------------------


def test_git_over_https_maps_username_password_and_bearer_token() -> None:
    basic = secret("s", url="https://git.example/a", username="u", password="p")
    token = secret("s", url="https://git.example/a", bearerToken="tok")
    assert flux_secret_data("git", "https://git.example/a", basic) == {
        "username": "u",
        "password": "p",
    }
    assert flux_secret_data("git", "https://git.example/a", token) == {"bearerToken": "tok"}


def test_git_over_ssh_maps_the_key_and_the_known_hosts() -> None:
    key = ssh_key()
    repository = secret("s", url="git@127.0.0.1:app.git", sshPrivateKey=key)
    credentials = credentials_for(
        "ssh://git@127.0.0.1/app.git", "default", "git", [repository], known_hosts()
    )
    assert credentials is not None
    assert credentials.data["identity"] == key
    assert credentials.data["known_hosts"] == HOST_KEY + "\n"
    again = credentials_for(
        "ssh://git@127.0.0.1/app.git", "default", "git", [repository], known_hosts(HOST_KEY)
    )
    assert again is not None
    assert again.version == credentials.version
    changed = known_hosts()
    changed["metadata"]["resourceVersion"] = "8"
    rotated = credentials_for(
        "ssh://git@127.0.0.1/app.git", "default", "git", [repository], changed
    )
    assert rotated is not None
    assert rotated.version != credentials.version


def test_an_ssh_key_that_does_not_parse_is_told_by_secret() -> None:
    repository = secret("broken", url="ssh://git@h/app.git", sshPrivateKey="not a key")
    with pytest.raises(RepositoryCredentialsError) as raised:
        credentials_for("ssh://git@h/app.git", "default", "git", [repository], known_hosts())
    message = str(raised.value)
    assert "sshPrivateKey of Argo CD repository Secret argocd/broken" in message
    assert "does not parse as a private key" in message
    assert "store the unencrypted private key" in message


def test_ssh_without_known_hosts_is_refused_even_with_insecure_ignore_host_key() -> None:
    repository = secret(
        "s", url="ssh://git@h/app.git", sshPrivateKey=ssh_key(), insecureIgnoreHostKey="true"
    )
    with pytest.raises(RepositoryCredentialsError) as raised:
        credentials_for("ssh://git@h/app.git", "default", "git", [repository], None)
    message = str(raised.value)
    assert f"ConfigMap argocd/{KNOWN_HOSTS_CONFIGMAP} lists no host key" in message
    assert "lockstep checks host keys even with insecureIgnoreHostKey" in message


@pytest.mark.parametrize(
    ("values", "told"),
    [
        ({"insecure": "true", "username": "u"}, "skip TLS verification (insecure)"),
        ({"proxy": "http://proxy:3128", "username": "u"}, "a proxy (proxy)"),
        ({"githubAppPrivateKey": "k"}, "GitHub App credentials"),
        ({"enableLfs": "true", "username": "u"}, "Git LFS"),
        ({"tlsClientCertData": "c", "tlsClientCertKey": "k"}, "TLS client certificate"),
        ({"password": "p"}, "has a password but no username; add username"),
    ],
)
def test_what_lockstep_cannot_do_is_refused_by_name(values: dict[str, str], told: str) -> None:
    repository = secret("s", url="https://git.example/a", **values)
    with pytest.raises(RepositoryCredentialsError) as raised:
        flux_secret_data("git", "https://git.example/a", repository)
    assert told in str(raised.value)
    assert "Argo CD repository Secret argocd/s" in str(raised.value)


def test_a_helm_repository_maps_basic_auth_and_client_certificates() -> None:
    repository = secret(
        "s",
        url="https://charts.example",
        username="u",
        password="p",
        tlsClientCertData="CERT",
        tlsClientCertKey="KEY",
    )
    data = flux_secret_data("helm", "https://charts.example", repository)
    assert data == {"username": "u", "password": "p", "tls.crt": "CERT", "tls.key": "KEY"}


def test_an_oci_registry_gets_a_docker_config() -> None:
    repository = secret("s", url="registry.example/charts", username="u", password="p")
    data = flux_secret_data("oci", "registry.example/charts", repository)
    config = json.loads(data[".dockerconfigjson"])
    assert config["auths"]["registry.example"]["username"] == "u"
    assert base64.b64decode(config["auths"]["registry.example"]["auth"]) == b"u:p"


def test_advice_names_argo_cds_secrets_not_the_flux_objects() -> None:
    refused = "http://h/app.git refused access (status code: 401); set spec.secretRef to a Secret"
    none = access_advice(refused, "http://h/app.git", "", "argocd")
    assert none.startswith("http://h/app.git refused access (status code: 401); add a Secret")
    assert "argocd.argoproj.io/secret-type: repository with url http://h/app.git" in none
    assert "spec.secretRef" not in none
    wrong = access_advice(refused, "http://h/app.git", "Argo CD repository Secret argocd/x", "a")
    assert wrong.endswith("correct the credentials of Argo CD repository Secret argocd/x")
    other = "http://h/app.git has no branch 'nope'; correct the revision"
    assert access_advice(other, "http://h/app.git", "", "argocd") == other


# --- the source objects -------------------------------------------------------------


def source(**fields: object) -> ApplicationSource:
    return ApplicationSource.model_validate(fields)


def test_credentials_put_the_source_objects_beside_the_argo_cd_secret() -> None:
    app_source = source(repoURL="https://git.example/app.git", path="deploy")
    secrets = [raw_secret("repo", url="https://git.example/app.git", username="u", password="p")]
    objects = application_source_objects(
        app_source, "team", "3m", project="team", secrets=secrets, known_hosts=None
    )
    plain = source_objects(app_source, "team", "3m")

    assert objects.namespace == "argocd"
    assert plain.namespace == "team"
    assert plain.secret is None
    assert objects.name != plain.name, "a fetch with credentials is not shared with one without"
    [repository] = objects.manifests
    assert repository["spec"]["secretRef"] == {"name": objects.name}
    assert objects.secret is not None
    assert objects.secret["metadata"] == {
        "name": objects.name,
        "namespace": "argocd",
        "labels": {
            "lockstep.io/argo-source": "true",
            CREDENTIALS_LABEL: repository["metadata"]["labels"][CREDENTIALS_LABEL],
        },
        "ownerReferences": [
            {"apiVersion": "v1", "kind": "Secret", "name": "repo", "uid": "uid-repo"}
        ],
    }
    assert base64.b64decode(objects.secret["data"]["password"]) == b"p"
    assert objects.origin == "Argo CD repository Secret argocd/repo"
    version = repository["metadata"]["labels"][CREDENTIALS_LABEL]
    assert "p" not in version
    assert repository["metadata"]["annotations"] == {"reconcile.fluxcd.io/requestedAt": version}


def test_a_rotated_secret_changes_the_credentials_label() -> None:
    app_source = source(repoURL="https://git.example/app.git", path="deploy")
    before = raw_secret("repo", url="https://git.example/app.git", username="u", password="p")
    after = raw_secret("repo", url="https://git.example/app.git", username="u", password="q")
    after["metadata"]["resourceVersion"] = "2"

    def label(raw: dict[str, Any]) -> str:
        objects = application_source_objects(
            app_source, "team", "3m", project="team", secrets=[raw], known_hosts=None
        )
        return str(objects.manifests[0]["metadata"]["labels"][CREDENTIALS_LABEL])

    assert label(before) != label(after)


def test_enable_oci_makes_a_chart_repository_an_oci_one_with_a_docker_config() -> None:
    chart = source(repoURL="https://registry.example/charts", chart="app", targetRevision="1.0.0")
    secrets = [
        raw_secret(
            "oci",
            url="https://registry.example/charts",
            enableOCI="true",
            username="u",
            password="p",
        )
    ]
    objects = application_source_objects(
        chart, "team", "3m", project="team", secrets=secrets, known_hosts=None
    )
    repository, helm_chart = objects.manifests
    assert repository["spec"]["type"] == "oci"
    assert repository["spec"]["secretRef"] == {"name": repository["metadata"]["name"]}
    assert helm_chart["metadata"]["namespace"] == "argocd"
    assert objects.secret is not None
    assert ".dockerconfigjson" in objects.secret["data"]
