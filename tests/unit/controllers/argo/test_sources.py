"""The Flux source objects that fetch an Application's sources, shared by every
Application on the same repository and revision."""

from __future__ import annotations

from lockstep.api.argo import ApplicationSource
from lockstep.controllers.argo.sources import commit_of, git_ref, git_url, source_objects

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def source(**fields: object) -> ApplicationSource:
    return ApplicationSource.model_validate(fields)


def test_one_git_repository_per_url_and_revision() -> None:
    main = source_objects(source(repoURL="https://git.example/apps.git", path="a"), "argocd", "3m")
    same = source_objects(
        source(repoURL="https://git.example/apps.git", path="b", targetRevision="HEAD"),
        "argocd",
        "3m",
    )
    other = source_objects(
        source(repoURL="https://git.example/apps.git", targetRevision="v1"), "argocd", "3m"
    )

    assert main == same, "two paths of one revision share one fetch"
    assert main.name != other.name
    [repository] = main.manifests
    assert repository["kind"] == "GitRepository"
    assert repository["metadata"]["namespace"] == "argocd"
    assert repository["metadata"]["labels"] == {"lockstep.io/argo-source": "true"}
    assert repository["spec"] == {
        "url": "https://git.example/apps.git",
        "interval": "3m",
        "ref": {"name": "HEAD"},
    }


def test_target_revisions_become_refs() -> None:
    assert git_ref("HEAD") == {"name": "HEAD"}
    assert git_ref("main") == {"name": "main"}
    assert git_ref(COMMIT.upper()) == {"commit": COMMIT}


def test_an_scp_like_url_becomes_an_ssh_url() -> None:
    assert git_url("git@github.com:org/apps.git") == "ssh://git@github.com/org/apps.git"
    assert git_url("ssh://git@github.com/org/apps.git") == "ssh://git@github.com/org/apps.git"
    assert git_url("https://git.example/apps.git") == "https://git.example/apps.git"


def test_a_chart_source_is_a_helm_repository_and_a_chart() -> None:
    chart = source(repoURL="https://charts.example", chart="redis", targetRevision="17.*")
    oci = source(repoURL="registry.example/charts", chart="redis", targetRevision="17.3.1")

    objects = source_objects(chart, "argocd", "3m")
    repository, helm_chart = objects.manifests

    assert objects.kind == "HelmChart"
    assert helm_chart["metadata"]["name"] == objects.name
    assert helm_chart["spec"]["sourceRef"] == {
        "kind": "HelmRepository",
        "name": repository["metadata"]["name"],
    }
    assert helm_chart["spec"]["version"] == "17.*"
    assert "type" not in repository["spec"]
    oci_repository, _ = source_objects(oci, "argocd", "3m").manifests
    assert oci_repository["spec"]["url"] == "oci://registry.example/charts"
    assert oci_repository["spec"]["type"] == "oci"


def test_the_revision_shown_is_the_commit() -> None:
    assert commit_of(f"main@sha1:{COMMIT}") == COMMIT
    assert commit_of(f"sha1:{COMMIT}") == COMMIT
    assert commit_of("17.3.1") == "17.3.1"
