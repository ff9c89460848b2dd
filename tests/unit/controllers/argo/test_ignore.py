"""Argo CD's ignoreDifferences: which entries cover an object, the pointers they ignore (JSON
pointers, jq path expressions run by jq, fields of trusted managers), argocd-cm's system
rules, and the apply-engine rule made for one object."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from lockstep.api.argo import ResourceIgnoreDifferences
from lockstep.apply.ignore import keep_ignored_fields
from lockstep.controllers.argo.ignore import (
    IgnoreDifferencesError,
    IgnoreDifferencesRule,
    application_rules,
    covering_rules,
    ignore_rule_for,
    parse_system_rules,
    pointers_to_ignore,
)


def _entry(**fields: Any) -> ResourceIgnoreDifferences:
    return ResourceIgnoreDifferences.model_validate(fields)


def _deployment(
    name: str = "web", namespace: str = "shop", replicas: int = 2, **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}], **spec},
            },
        },
    }


def _service(name: str = "web", group: str = "") -> dict[str, Any]:
    return {
        "apiVersion": f"{group}/v1" if group else "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"ports": [{"port": 80}]},
    }


REPLICAS = _entry(group="apps", kind="Deployment", jsonPointers=["/spec/replicas"])


# --- jsonPointers and coverage --------------------------------------------------------------


def test_replicas_of_every_deployment_are_ignored() -> None:
    live = _deployment(replicas=5)

    assert pointers_to_ignore(_deployment(), live, [REPLICAS]) == ["/spec/replicas"]
    assert pointers_to_ignore(_deployment(name="api"), None, [REPLICAS]) == ["/spec/replicas"]
    assert pointers_to_ignore(_service(), _service(), [REPLICAS]) == []


def test_a_pointer_to_a_field_the_object_lacks_is_kept_as_written() -> None:
    entry = _entry(group="apps", kind="Deployment", jsonPointers=["/spec/paused"])

    assert pointers_to_ignore(_deployment(), _deployment(), [entry]) == ["/spec/paused"]


def test_an_empty_group_is_the_core_group_only() -> None:
    (rule,) = application_rules([_entry(kind="Service", jsonPointers=["/spec/ports"])])

    assert rule.covers(_service())
    assert not rule.covers(_service(group="serving.knative.dev"))


def test_group_and_kind_are_globs() -> None:
    rules = application_rules(
        [
            _entry(group="*", kind="*", jsonPointers=["/metadata/labels"]),
            _entry(group="*.knative.dev", kind="Serv?ce", jsonPointers=["/spec/template"]),
            _entry(group="{apps,batch}", kind="Deployment", jsonPointers=["/spec/paused"]),
        ]
    )

    assert covering_rules(_service(), rules) == rules[:1]
    assert covering_rules(_service(group="serving.knative.dev"), rules) == rules[:2]
    assert covering_rules(_deployment(), rules) == [rules[0], rules[2]]


def test_name_and_namespace_narrow_an_entry_when_set() -> None:
    named = _entry(group="apps", kind="Deployment", name="web", jsonPointers=["/spec/replicas"])
    placed = _entry(
        group="apps", kind="Deployment", namespace="shop", jsonPointers=["/spec/replicas"]
    )

    assert pointers_to_ignore(_deployment(name="web", namespace="other"), None, [named])
    assert not pointers_to_ignore(_deployment(name="api"), None, [named])
    assert pointers_to_ignore(_deployment(name="api", namespace="shop"), None, [placed])
    assert not pointers_to_ignore(_deployment(namespace="other"), None, [placed])


def test_kind_is_compared_with_its_case() -> None:
    entry = _entry(group="apps", kind="deployment", jsonPointers=["/spec/replicas"])

    assert pointers_to_ignore(_deployment(), None, [entry]) == []


# --- jqPathExpressions ----------------------------------------------------------------------

INJECTED = '.spec.template.spec.initContainers[] | select(.name == "injected")'


def test_jq_selects_an_injected_init_container_by_name() -> None:
    live = _deployment(
        initContainers=[
            {"name": "migrate", "image": "migrate:1"},
            {"name": "injected", "image": "sidecar:2"},
        ]
    )
    entry = _entry(group="apps", kind="Deployment", jqPathExpressions=[INJECTED])

    # On the desired object (no initContainers) the expression fails: it ignores nothing there.
    assert pointers_to_ignore(_deployment(), live, [entry]) == [
        "/spec/template/spec/initContainers/1"
    ]


def test_jq_runs_on_the_desired_object_too() -> None:
    desired = _deployment(initContainers=[{"name": "injected", "image": "sidecar:1"}])
    entry = _entry(group="apps", kind="Deployment", jqPathExpressions=[INJECTED])

    assert pointers_to_ignore(desired, _deployment(), [entry]) == [
        "/spec/template/spec/initContainers/0"
    ]


def test_jq_paths_escape_keys_and_count_negative_indices_from_the_end() -> None:
    live = _deployment(initContainers=[{"name": "a"}, {"name": "b"}, {"name": "c"}])
    live["metadata"]["annotations"] = {"example.com/owner": "team~a"}
    entry = _entry(
        group="apps",
        kind="Deployment",
        jqPathExpressions=[
            '.metadata.annotations["example.com/owner"]',
            ".spec.template.spec.initContainers[-1].name",
        ],
    )

    assert pointers_to_ignore(_deployment(), live, [entry]) == [
        "/metadata/annotations/example.com~1owner",
        "/spec/template/spec/initContainers/2/name",
    ]


def test_jq_paths_to_nothing_and_failing_expressions_ignore_nothing() -> None:
    entry = _entry(
        group="apps",
        kind="Deployment",
        jqPathExpressions=[".spec.strategy", ".spec.volumes[]", ".spec.replicas + 1", "."],
    )

    assert pointers_to_ignore(_deployment(), _deployment(), [entry]) == []


def test_a_jq_expression_that_does_not_compile_names_the_application_field() -> None:
    entries = [
        REPLICAS,
        _entry(group="apps", kind="Deployment", jqPathExpressions=[".spec | select("]),
    ]

    with pytest.raises(IgnoreDifferencesError) as raised:
        pointers_to_ignore(_deployment(), None, entries)

    message = str(raised.value)
    assert message.startswith(
        'spec.ignoreDifferences[1]: jqPathExpressions[0] ".spec | select(" is not a jq expression ('
    )
    assert "syntax error" in message
    assert message.endswith(": correct it or remove it")
    assert "\n" not in message


def test_an_expression_closing_path_early_is_refused() -> None:
    with pytest.raises(IgnoreDifferencesError, match=r"jqPathExpressions\[0\]"):
        application_rules([_entry(kind="Service", jqPathExpressions=[".a) | (.b"])])


def test_a_pointer_that_is_not_a_json_pointer_names_the_field() -> None:
    with pytest.raises(
        IgnoreDifferencesError, match=r"^spec\.ignoreDifferences\[0\]: jsonPointers\[1\] "
    ):
        application_rules([_entry(kind="Service", jsonPointers=["/spec/ports", "spec/clusterIP"])])


# --- managedFieldsManagers ------------------------------------------------------------------


def _live_deployment_with_managed_fields() -> dict[str, Any]:
    live = _deployment(replicas=4)
    live["metadata"]["annotations"] = {"deployment.kubernetes.io/revision": "3"}
    live["status"] = {
        "replicas": 4,
        "conditions": [
            {"type": "Progressing", "status": "True"},
            {"type": "Available", "status": "True"},
        ],
    }
    live["metadata"]["managedFields"] = [
        {
            "manager": "argocd-controller",
            "operation": "Apply",
            "apiVersion": "apps/v1",
            "time": "2026-12-07T10:00:00Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:spec": {
                    "f:replicas": {},
                    "f:selector": {},
                    "f:template": {
                        "f:metadata": {"f:labels": {"f:app": {}}},
                        "f:spec": {
                            "f:containers": {
                                'k:{"name":"web"}': {".": {}, "f:image": {}, "f:name": {}}
                            }
                        },
                    },
                }
            },
        },
        {
            "manager": "kube-controller-manager",
            "operation": "Update",
            "apiVersion": "apps/v1",
            "time": "2026-12-07T10:05:00Z",
            "fieldsType": "FieldsV1",
            "subresource": "scale",
            "fieldsV1": {"f:spec": {"f:replicas": {}}},
        },
        {
            "manager": "kube-controller-manager",
            "operation": "Update",
            "apiVersion": "apps/v1",
            "time": "2026-12-07T10:05:01Z",
            "fieldsType": "FieldsV1",
            "subresource": "status",
            "fieldsV1": {
                "f:metadata": {
                    "f:annotations": {".": {}, "f:deployment.kubernetes.io/revision": {}}
                },
                "f:status": {
                    "f:replicas": {},
                    "f:conditions": {
                        ".": {},
                        'k:{"type":"Available"}': {".": {}, "f:status": {}, "f:type": {}},
                    },
                },
            },
        },
    ]
    return live


def test_fields_of_a_trusted_manager_are_ignored_whatever_the_operation() -> None:
    entry = _entry(group="*", kind="*", managedFieldsManagers=["kube-controller-manager"])

    pointers = pointers_to_ignore(_deployment(), _live_deployment_with_managed_fields(), [entry])

    assert sorted(pointers) == [
        "/metadata/annotations/deployment.kubernetes.io~1revision",
        "/spec/replicas",
        "/status/conditions/1/status",
        "/status/conditions/1/type",
        "/status/replicas",
    ]


def test_fields_of_other_managers_and_of_an_object_not_created_yet_are_kept() -> None:
    entry = _entry(group="apps", kind="Deployment", managedFieldsManagers=["kube-scheduler"])
    trusted = _entry(
        group="apps", kind="Deployment", managedFieldsManagers=["kube-controller-manager"]
    )

    assert pointers_to_ignore(_deployment(), _live_deployment_with_managed_fields(), [entry]) == []
    assert pointers_to_ignore(_deployment(), None, [trusted]) == []


# --- argocd-cm ------------------------------------------------------------------------------

CA_BUNDLE = {
    "resource.customizations.ignoreDifferences.admissionregistration.k8s.io_MutatingWebhookConfiguration": (
        "jqPathExpressions:\n- '.webhooks[]?.clientConfig.caBundle'\n"
    )
}


def _webhooks(*client_configs: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": "injector"},
        "webhooks": [
            {"name": f"hook-{index}.example.com", "clientConfig": config}
            for index, config in enumerate(client_configs)
        ],
    }


def test_a_system_rule_ignores_the_ca_bundle_of_every_webhook() -> None:
    service = {"service": {"name": "injector", "namespace": "mesh"}}
    desired = _webhooks(service, service)
    live = _webhooks({**service, "caBundle": "LS0tLS1CRUdJTg=="}, {**service, "caBundle": "LS0t"})

    pointers = pointers_to_ignore(desired, live, [], parse_system_rules(CA_BUNDLE))

    assert pointers == ["/webhooks/0/clientConfig/caBundle", "/webhooks/1/clientConfig/caBundle"]
    assert pointers_to_ignore(_service(), _service(), [], parse_system_rules(CA_BUNDLE)) == []


def test_split_keys_name_group_and_kind_or_all() -> None:
    rules = parse_system_rules(
        {
            "resource.customizations.ignoreDifferences.apps_Deployment": (
                "managedFieldsManagers:\n- kube-controller-manager\n"
            ),
            "resource.customizations.ignoreDifferences._Service": "jsonPointers:\n- /spec/clusterIP\n",
            "resource.customizations.ignoreDifferences.ConfigMap": "jsonPointers:\n- /data\n",
            "resource.customizations.ignoreDifferences.all": "jsonPointers:\n- /metadata/labels\n",
            "resource.customizations.health.apps_Deployment": "hs = {}\nreturn hs\n",
            "resource.exclusions": "- apiGroups: ['*']\n",
        }
    )

    assert {(rule.group, rule.kind) for rule in rules} == {
        ("apps", "Deployment"),
        ("", "Service"),
        ("", "ConfigMap"),
        ("*", "*"),
    }
    deployment = next(rule for rule in rules if rule.kind == "Deployment")
    assert deployment.managed_fields_managers == ("kube-controller-manager",)
    assert (
        deployment.origin == "argocd-cm resource.customizations.ignoreDifferences.apps_Deployment"
    )
    # Split keys are read in key order: "_Service" before "all".
    assert pointers_to_ignore(_service(), None, [], rules) == [
        "/spec/clusterIP",
        "/metadata/labels",
    ]


def test_the_older_form_is_read_and_a_split_key_replaces_its_entry() -> None:
    data = {
        "resource.customizations": (
            "apps/Deployment:\n"
            "  ignoreDifferences: |\n"
            "    jsonPointers:\n"
            "    - /spec/replicas\n"
            "Service:\n"
            "  ignoreDifferences:\n"
            "    jsonPointers:\n"
            "    - /spec/clusterIP\n"
            "cert-manager.io/Certificate:\n"
            "  health.lua: |\n"
            "    return {}\n"
        )
    }
    older = parse_system_rules(data)
    replaced = parse_system_rules(
        {
            **data,
            "resource.customizations.ignoreDifferences.apps_Deployment": "jsonPointers: [/spec/paused]",
        }
    )

    assert [(rule.group, rule.kind, rule.json_pointers) for rule in older] == [
        ("apps", "Deployment", ("/spec/replicas",)),
        ("", "Service", ("/spec/clusterIP",)),
    ]
    assert pointers_to_ignore(_deployment(), None, [], replaced) == ["/spec/paused"]


def test_system_rules_and_application_entries_are_joined_without_repeats() -> None:
    system = parse_system_rules(
        {
            "resource.customizations.ignoreDifferences.all": "jsonPointers: [/spec/replicas, /metadata/labels]"
        }
    )

    assert pointers_to_ignore(_deployment(), None, [REPLICAS], system) == [
        "/spec/replicas",
        "/metadata/labels",
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"resource.customizations.ignoreDifferences.a_b_c": "jsonPointers: [/spec]"},
            r"^argocd-cm resource\.customizations\.ignoreDifferences\.a_b_c: the key must end in",
        ),
        (
            {"resource.customizations.ignoreDifferences.all": "jsonPointers: [/spec"},
            r"^argocd-cm resource\.customizations\.ignoreDifferences\.all is not YAML \(",
        ),
        (
            {"resource.customizations.ignoreDifferences.all": "jsonPointers: /spec"},
            r"jsonPointers is not a list of strings",
        ),
        (
            {"resource.customizations.ignoreDifferences.all": "jqPathExpressions: ['.a[']"},
            r"^argocd-cm resource\.customizations\.ignoreDifferences\.all: jqPathExpressions\[0\]",
        ),
        (
            {"resource.customizations": "a/b/c:\n  ignoreDifferences: 'jsonPointers: [/x]'\n"},
            r"the key must be <group>/<kind> or <kind>",
        ),
    ],
)
def test_unreadable_argocd_cm_keys_are_named(data: dict[str, str], message: str) -> None:
    with pytest.raises(IgnoreDifferencesError, match=message) as raised:
        parse_system_rules(data)

    assert "\n" not in str(raised.value)


# --- the apply engine's rule ----------------------------------------------------------------


def test_the_rule_for_an_object_selects_that_object_only() -> None:
    rule = ignore_rule_for(_deployment(), ["/spec/replicas"])

    assert rule is not None
    assert rule.paths == ("/spec/replicas",)
    assert rule.covers(_deployment())
    assert not rule.covers(_deployment(name="web-2"))
    assert not rule.covers(_deployment(namespace="other"))
    other_group = _deployment()
    other_group["apiVersion"] = "extensions.example.com/v1"
    assert not rule.covers(other_group)


def test_the_rule_for_a_core_or_cluster_scoped_object_does_not_select_others() -> None:
    core = ignore_rule_for(_service(), ["/spec/ports"])
    webhook = ignore_rule_for(_webhooks(), ["/webhooks/0/clientConfig/caBundle"])

    assert core is not None
    assert webhook is not None
    assert core.covers(_service())
    assert not core.covers(_service(group="serving.knative.dev"))
    assert webhook.covers(_webhooks())
    placed = _webhooks()
    placed["metadata"]["namespace"] = "mesh"
    assert not webhook.covers(placed)


def test_no_pointers_make_no_rule() -> None:
    assert ignore_rule_for(_deployment(), []) is None


def test_the_apply_engine_keeps_the_live_values_the_rule_names() -> None:
    desired, live = _deployment(replicas=2), _deployment(replicas=7)
    rule = ignore_rule_for(desired, pointers_to_ignore(desired, live, [REPLICAS]))

    assert rule is not None
    kept = keep_ignored_fields(desired, live, [rule])
    assert kept["spec"]["replicas"] == 7
    assert keep_ignored_fields(_deployment(name="api"), live, [rule]) == _deployment(name="api")


def test_rules_are_frozen_and_hashable() -> None:
    rule = IgnoreDifferencesRule(origin="test", group="apps", kind="Deployment")

    assert hash(rule) == hash(copy.copy(rule))
    with pytest.raises(AttributeError):
        rule.kind = "StatefulSet"  # type: ignore[misc]
