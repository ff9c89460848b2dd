"""The AppProject rules: source repositories, destinations, kinds of object, Application
namespaces, the default project, and the checks the Application reconciler calls."""

from __future__ import annotations

from typing import Any

import pytest

from lockstep.controllers.argo.project import (
    Destination,
    InvalidProjectError,
    ProjectRules,
    check_application,
    check_object,
    default_project_rules,
    glob_match,
    is_app_namespace_permitted,
    is_destination_permitted,
    is_group_kind_permitted,
    is_source_permitted,
    normalize_repo_url,
    parse_project,
)

IN_CLUSTER = "https://kubernetes.default.svc"
PROD = "https://prod.example.com:6443"


def _project(name: str = "team-a", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AppProject",
        "metadata": {"name": name, "namespace": "argocd"},
        "spec": spec,
    }


def _rules(**spec: Any) -> ProjectRules:
    return parse_project(_project(**spec))


def _dest(namespace: str, server: str = IN_CLUSTER, name: str = "in-cluster") -> Destination:
    return Destination(server=server, name=name, namespace=namespace)


# --- source repositories -------------------------------------------------------------------


def test_a_star_permits_every_repository_including_nested_paths() -> None:
    rules = _rules(sourceRepos=["*"])

    assert is_source_permitted(rules, "https://gitlab.example.com/group/sub/repo.git")
    assert is_source_permitted(rules, "git@github.com:org/repo.git")


def test_an_org_glob_matches_one_path_segment_and_a_double_star_matches_more() -> None:
    one = _rules(sourceRepos=["https://github.com/acme/*"])
    many = _rules(sourceRepos=["https://github.com/acme/**"])

    assert is_source_permitted(one, "https://github.com/acme/payments")
    assert not is_source_permitted(one, "https://github.com/acme/team/payments")
    assert not is_source_permitted(one, "https://github.com/other/payments")
    assert is_source_permitted(many, "https://github.com/acme/team/payments")


def test_repository_urls_are_compared_without_case_dot_git_or_ssh_scheme() -> None:
    rules = _rules(
        sourceRepos=["https://GitHub.com/Acme/Payments.git", "git@github.com:acme/infra"]
    )

    assert is_source_permitted(rules, "https://github.com/acme/payments")
    assert is_source_permitted(rules, "  https://github.com/ACME/payments.git ")
    assert is_source_permitted(rules, "ssh://git@github.com/acme/infra.git")
    assert not is_source_permitted(rules, "https://github.com/acme/infra")


def test_normalisation_matches_argo_cds() -> None:
    assert normalize_repo_url("git@GitHub.com:Org/Repo.git") == "git@github.com/org/repo"
    assert normalize_repo_url("ssh://git@github.com/org/repo.git") == "git@github.com/org/repo"
    assert normalize_repo_url("https://github.com/org/repo.git") == "https://github.com/org/repo"


def test_a_negated_repository_is_refused_even_when_another_entry_allows_it() -> None:
    rules = _rules(sourceRepos=["https://github.com/acme/*", "!https://github.com/acme/secrets"])

    assert is_source_permitted(rules, "https://github.com/acme/payments")
    assert not is_source_permitted(rules, "https://github.com/acme/secrets.git")


def test_a_negation_alone_permits_everything_else_as_in_argo_cd() -> None:
    rules = _rules(sourceRepos=["!https://github.com/acme/secrets"])

    assert is_source_permitted(rules, "https://gitlab.example.com/any/repo")
    assert not is_source_permitted(rules, "https://github.com/acme/secrets")


def test_no_source_repos_permits_nothing() -> None:
    assert not is_source_permitted(_rules(), "https://github.com/acme/payments")


# --- globs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("team-*", "team-a", True),
        ("team-?", "team-ab", False),
        ("{dev,staging}-*", "staging-eu", True),
        ("{dev,staging}-*", "prod-eu", False),
        ("[!p]*", "dev", True),
        ("[!p]*", "prod", False),
        ("[a-c]x", "bx", True),
        ("team-[", "team-[", False),
        ("", "", True),
        ("", "x", False),
    ],
)
def test_globs_follow_gobwas(pattern: str, value: str, expected: bool) -> None:
    assert glob_match(pattern, value) is expected


# --- destinations ---------------------------------------------------------------------------


def test_a_destination_matches_by_server_and_namespace() -> None:
    rules = _rules(destinations=[{"server": IN_CLUSTER, "namespace": "team-a-*"}])

    assert is_destination_permitted(rules, _dest("team-a-web"))
    assert not is_destination_permitted(rules, _dest("kube-system"))
    assert not is_destination_permitted(rules, _dest("team-a-web", server=PROD, name="prod"))


def test_a_destination_given_by_name_matches_entries_by_name() -> None:
    rules = _rules(destinations=[{"name": "prod", "namespace": "*"}])

    assert is_destination_permitted(rules, Destination(server="", name="prod", namespace="web"))
    assert is_destination_permitted(rules, _dest("web", server=PROD, name="prod"))
    assert not is_destination_permitted(rules, _dest("web"))


def test_a_resolved_destination_matches_an_entry_by_server_when_given_by_name() -> None:
    rules = _rules(destinations=[{"server": PROD, "namespace": "web"}])

    assert is_destination_permitted(rules, _dest("web", server=PROD, name="prod"))
    assert not is_destination_permitted(rules, Destination(server="", name="prod", namespace="web"))


def test_a_denied_namespace_wins_over_an_allowing_entry() -> None:
    rules = _rules(
        destinations=[
            {"server": "*", "namespace": "*"},
            {"server": "*", "namespace": "!kube-system"},
        ]
    )

    assert is_destination_permitted(rules, _dest("web"))
    assert not is_destination_permitted(rules, _dest("kube-system"))


def test_a_denied_server_wins_over_an_allowing_entry() -> None:
    rules = _rules(
        destinations=[{"server": "*", "namespace": "*"}, {"server": f"!{PROD}", "namespace": "*"}]
    )

    assert is_destination_permitted(rules, _dest("web"))
    assert not is_destination_permitted(rules, _dest("web", server=PROD, name="prod"))


def test_a_denied_name_wins_over_an_allowing_entry() -> None:
    rules = _rules(
        destinations=[{"name": "*", "namespace": "*"}, {"name": "!prod-*", "namespace": "*"}]
    )

    assert is_destination_permitted(rules, _dest("web", server=PROD, name="staging-eu"))
    assert not is_destination_permitted(rules, _dest("web", server=PROD, name="prod-eu"))


def test_no_destinations_permit_nothing() -> None:
    assert not is_destination_permitted(_rules(), _dest("web"))


# --- kinds of object ------------------------------------------------------------------------


def test_cluster_scoped_kinds_are_refused_unless_whitelisted() -> None:
    bare = _rules()
    listed = _rules(clusterResourceWhitelist=[{"group": "", "kind": "Namespace"}])

    assert not is_group_kind_permitted(bare, "", "Namespace", namespaced=False)
    assert is_group_kind_permitted(listed, "", "Namespace", namespaced=False)
    assert not is_group_kind_permitted(
        listed, "rbac.authorization.k8s.io", "ClusterRole", namespaced=False
    )


def test_namespaced_kinds_are_permitted_when_the_whitelist_is_absent() -> None:
    rules = _rules()

    assert is_group_kind_permitted(rules, "apps", "Deployment", namespaced=True)


def test_an_empty_namespace_whitelist_refuses_every_namespaced_kind() -> None:
    rules = _rules(namespaceResourceWhitelist=[])

    assert not is_group_kind_permitted(rules, "apps", "Deployment", namespaced=True)


def test_a_namespace_whitelist_permits_only_what_it_lists() -> None:
    rules = _rules(namespaceResourceWhitelist=[{"group": "apps", "kind": "*"}])

    assert is_group_kind_permitted(rules, "apps", "StatefulSet", namespaced=True)
    assert not is_group_kind_permitted(rules, "", "ConfigMap", namespaced=True)


def test_a_blacklist_wins_over_a_whitelist() -> None:
    rules = _rules(
        clusterResourceWhitelist=[{"group": "*", "kind": "*"}],
        clusterResourceBlacklist=[{"group": "rbac.authorization.k8s.io", "kind": "Cluster*"}],
        namespaceResourceBlacklist=[{"group": "", "kind": "ResourceQuota"}],
    )

    assert is_group_kind_permitted(rules, "", "Namespace", namespaced=False)
    assert not is_group_kind_permitted(
        rules, "rbac.authorization.k8s.io", "ClusterRoleBinding", namespaced=False
    )
    assert not is_group_kind_permitted(rules, "", "ResourceQuota", namespaced=True)
    assert is_group_kind_permitted(rules, "", "LimitRange", namespaced=True)


def test_group_patterns_follow_go_filepath_match() -> None:
    rules = _rules(namespaceResourceWhitelist=[{"group": "[^x]*", "kind": "*"}])

    assert is_group_kind_permitted(rules, "apps", "Deployment", namespaced=True)
    assert not is_group_kind_permitted(rules, "xapps", "Thing", namespaced=True)


# --- Application namespaces -----------------------------------------------------------------


def test_applications_in_the_control_plane_namespace_may_always_use_the_project() -> None:
    rules = _rules()

    assert is_app_namespace_permitted(rules, "argocd", "argocd")
    assert is_app_namespace_permitted(rules, "", "argocd")
    assert not is_app_namespace_permitted(rules, "team-a", "argocd")


def test_source_namespaces_accept_globs_and_regular_expressions() -> None:
    rules = _rules(sourceNamespaces=["team-*", "/^apps-[0-9]+$/"])

    assert is_app_namespace_permitted(rules, "team-a", "argocd")
    assert is_app_namespace_permitted(rules, "apps-42", "argocd")
    assert not is_app_namespace_permitted(rules, "apps-x", "argocd")
    assert not is_app_namespace_permitted(rules, "other", "argocd")


# --- the default project --------------------------------------------------------------------


def test_the_default_project_permits_everything_from_the_control_plane_namespace() -> None:
    rules = default_project_rules()

    assert rules.name == "default"
    assert is_source_permitted(rules, "oci://registry.example.com/charts/web")
    assert is_destination_permitted(rules, _dest("anything", server=PROD, name="prod"))
    assert is_group_kind_permitted(rules, "apiextensions.k8s.io", "CustomResourceDefinition", False)
    assert is_group_kind_permitted(rules, "apps", "Deployment", True)
    assert not is_app_namespace_permitted(rules, "team-a", "argocd")


def test_the_default_project_object_argo_cd_creates_reads_as_the_default_rules() -> None:
    created = _project(
        "default",
        sourceRepos=["*"],
        destinations=[{"server": "*", "namespace": "*"}],
        clusterResourceWhitelist=[{"group": "*", "kind": "*"}],
    )

    assert parse_project(created) == default_project_rules()


# --- parsing --------------------------------------------------------------------------------


def test_a_malformed_list_is_reported_with_the_project_and_field() -> None:
    with pytest.raises(InvalidProjectError, match=r"AppProject 'team-a': spec.sourceRepos"):
        parse_project(_project(sourceRepos="https://github.com/acme/payments"))


def test_null_lists_read_as_empty() -> None:
    rules = parse_project(_project(sourceRepos=None, destinations=None))

    assert rules.source_repos == ()
    assert rules.destinations == ()
    assert rules.namespace_whitelist is None


# --- the reconciler's checks ----------------------------------------------------------------

TEAM_A = _project(
    sourceRepos=["https://github.com/acme/*", "!https://github.com/acme/secrets"],
    destinations=[{"server": IN_CLUSTER, "namespace": "team-a-*"}],
    clusterResourceWhitelist=[{"group": "", "kind": "Namespace"}],
    namespaceResourceBlacklist=[{"group": "", "kind": "ResourceQuota"}],
    sourceNamespaces=["team-a"],
)


def _check_team_a(
    repo_urls: list[str], namespace: str = "team-a-web", app_namespace: str = "argocd"
) -> list[str]:
    return check_application(
        parse_project(TEAM_A),
        app_name="web",
        app_namespace=app_namespace,
        control_plane_namespace="argocd",
        repo_urls=repo_urls,
        destination=_dest(namespace),
    )


def test_a_permitted_application_has_no_violations() -> None:
    assert _check_team_a(["https://github.com/acme/web.git"]) == []
    assert _check_team_a(["https://github.com/acme/web"], app_namespace="team-a") == []


def test_every_refused_source_and_the_destination_are_reported() -> None:
    violations = _check_team_a(
        ["https://github.com/acme/web", "https://github.com/acme/secrets"],
        namespace="kube-system",
    )

    assert violations == [
        "application repo https://github.com/acme/secrets is not permitted in project "
        "'team-a'; add it to spec.sourceRepos",
        f"application destination server '{IN_CLUSTER}' and namespace 'kube-system' do not "
        "match any of the allowed destinations in project 'team-a'; add it to spec.destinations",
    ]


def test_a_repository_listed_twice_in_sources_is_reported_once() -> None:
    secrets = "https://github.com/acme/secrets"

    assert len(_check_team_a([secrets, secrets])) == 1


def test_an_application_namespace_outside_source_namespaces_is_refused_first() -> None:
    assert _check_team_a(["https://evil.io/x"], app_namespace="team-b") == [
        "application 'web' in namespace 'team-b' is not allowed to use project 'team-a'; "
        "add the namespace to spec.sourceNamespaces of the project"
    ]


def test_a_destination_given_only_by_name_is_named_in_the_message() -> None:
    violations = check_application(
        parse_project(TEAM_A),
        app_name="web",
        app_namespace="argocd",
        control_plane_namespace="argocd",
        repo_urls=["https://github.com/acme/web"],
        destination=Destination(server="", name="prod", namespace="team-a-web"),
    )

    assert violations == [
        "application destination name 'prod' and namespace 'team-a-web' do not match any of "
        "the allowed destinations in project 'team-a'; add it to spec.destinations"
    ]


def test_objects_are_checked_for_kind_and_namespace() -> None:
    rules = parse_project(TEAM_A)
    destination = _dest("team-a-web")

    assert (
        check_object(
            rules, group="apps", kind="Deployment", namespace="team-a-web", destination=destination
        )
        is None
    )
    assert (
        check_object(rules, group="", kind="Namespace", namespace=None, destination=destination)
        is None
    )
    assert check_object(
        rules, group="", kind="ResourceQuota", namespace="team-a-web", destination=destination
    ) == (
        "resource :ResourceQuota is not permitted in project 'team-a'; "
        "remove it from spec.namespaceResourceBlacklist"
    )
    assert check_object(
        rules,
        group="rbac.authorization.k8s.io",
        kind="ClusterRole",
        namespace=None,
        destination=destination,
    ) == (
        "resource rbac.authorization.k8s.io:ClusterRole is not permitted in project 'team-a'; "
        "add it to spec.clusterResourceWhitelist"
    )
    assert check_object(
        rules, group="", kind="ConfigMap", namespace="kube-system", destination=destination
    ) == ("namespace kube-system is not permitted in project 'team-a'; add it to spec.destinations")


def test_an_object_on_another_cluster_is_refused_by_the_destination_check() -> None:
    rules = parse_project(TEAM_A)

    assert (
        check_object(
            rules,
            group="",
            kind="ConfigMap",
            namespace="team-a-web",
            destination=_dest("team-a-web", server=PROD, name="prod"),
        )
        == "namespace team-a-web is not permitted in project 'team-a'; add it to spec.destinations"
    )


def test_a_kind_missing_from_a_namespace_whitelist_is_told_to_be_added() -> None:
    rules = _rules(
        destinations=[{"server": "*", "namespace": "*"}],
        namespaceResourceWhitelist=[{"group": "apps", "kind": "Deployment"}],
    )

    assert check_object(
        rules, group="batch", kind="Job", namespace="web", destination=_dest("web")
    ) == (
        "resource batch:Job is not permitted in project 'team-a'; "
        "add it to spec.namespaceResourceWhitelist"
    )
