"""The generated CRDs are Flux's complete set and Argo CD's Application and AppProject:
structural schemas, Flux's and Argo CD's names, versions and columns, and open schemas for
the kinds lockstep does not model yet."""

from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
import yaml

from lockstep.api.crds import SchemaGenerationError, crd_manifests, crds_yaml, openapi_schema
from lockstep.api.kinds import KINDS, RECONCILED_LABEL, KindInfo
from lockstep.api.meta import ApiModel, ApiObject

SCALAR_TYPES = {"string", "integer", "number", "boolean"}
NON_STRUCTURAL_KEYWORDS = {
    "$ref",
    "$defs",
    "definitions",
    "anyOf",
    "oneOf",
    "allOf",
    "not",
    "const",
    "nullable",
}

CRDS = {crd["spec"]["names"]["kind"]: crd for crd in crd_manifests()}
KIND_IDS = [info.kind for info in KINDS]
UNMODELLED = [info.kind for info in KINDS if info.model is None]
WITH_STATUS = [info.kind for info in KINDS if info.status_subresource]
ARGO_KINDS = ["Application", "AppProject"]
FLUX_KIND_IDS = [kind for kind in KIND_IDS if kind not in ARGO_KINDS]

FLUX_CRDS = {
    "gitrepositories.source.toolkit.fluxcd.io",
    "ocirepositories.source.toolkit.fluxcd.io",
    "helmrepositories.source.toolkit.fluxcd.io",
    "helmcharts.source.toolkit.fluxcd.io",
    "buckets.source.toolkit.fluxcd.io",
    "externalartifacts.source.toolkit.fluxcd.io",
    "kustomizations.kustomize.toolkit.fluxcd.io",
    "helmreleases.helm.toolkit.fluxcd.io",
    "imagerepositories.image.toolkit.fluxcd.io",
    "imagepolicies.image.toolkit.fluxcd.io",
    "imageupdateautomations.image.toolkit.fluxcd.io",
    "receivers.notification.toolkit.fluxcd.io",
    "alerts.notification.toolkit.fluxcd.io",
    "providers.notification.toolkit.fluxcd.io",
}
"""The CRDs of a Flux 2.x installation with every controller."""

ARGO_CRDS = {"applications.argoproj.io", "appprojects.argoproj.io"}
"""The CRDs of Argo CD that lockstep serves."""


def walk(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node under `schema`, with a readable path."""
    yield path, schema
    for name, child in schema.get("properties", {}).items():
        yield from walk(child, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from walk(schema["additionalProperties"], f"{path}{{}}")


def structural_violations(schema: dict[str, Any]) -> list[str]:
    """Where `schema` breaks the rules Kubernetes sets for CRD schemas."""
    violations = []
    root_metadata = schema.get("properties", {}).get("metadata")
    if root_metadata != {"type": "object"}:
        violations.append(f"root metadata must be exactly {{type: object}}, got {root_metadata}")
    for path, node in walk(schema):
        where = path or "<root>"
        node_type = node.get("type")
        int_or_string = node.get("x-kubernetes-int-or-string") is True
        if int_or_string and node.keys() - {"x-kubernetes-int-or-string", "description"}:
            violations.append(f"{where}: int-or-string with more than a description")
        elif node_type not in SCALAR_TYPES | {"object", "array"} and not int_or_string:
            violations.append(f"{where}: type is {node_type!r}")
        for keyword in NON_STRUCTURAL_KEYWORDS & node.keys():
            violations.append(f"{where}: has {keyword}")
        if "properties" in node and "additionalProperties" in node:
            violations.append(f"{where}: properties together with additionalProperties")
        if "additionalProperties" in node and not isinstance(node["additionalProperties"], dict):
            violations.append(f"{where}: additionalProperties is not a schema")
        if node_type == "array" and not isinstance(node.get("items"), dict):
            violations.append(f"{where}: array without a single items schema")
        if node_type != "array" and "items" in node:
            violations.append(f"{where}: items on a {node_type}")
        if node.get("x-kubernetes-preserve-unknown-fields") and node_type != "object":
            violations.append(f"{where}: preserve-unknown-fields on a {node_type}")
        missing = set(node.get("required", [])) - node.get("properties", {}).keys()
        if missing:
            violations.append(f"{where}: required names unknown properties {sorted(missing)}")
        if node_type in SCALAR_TYPES and node.keys() & {"properties", "additionalProperties"}:
            violations.append(f"{where}: object keywords on a {node_type}")
    return violations


def versions(crd: dict[str, Any]) -> list[dict[str, Any]]:
    return list(crd["spec"]["versions"])


def schemas(crd: dict[str, Any]) -> list[dict[str, Any]]:
    return [version["schema"]["openAPIV3Schema"] for version in versions(crd)]


def test_the_checker_catches_non_structural_schemas() -> None:
    schema = {
        "type": "object",
        "properties": {
            "metadata": {"type": "object", "properties": {"name": {"type": "string"}}},
            "spec": {
                "type": "object",
                "properties": {
                    "ref": {"$ref": "#/$defs/Ref"},
                    "maybe": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                    "labels": {"type": "object", "additionalProperties": True},
                    "mixed": {
                        "type": "object",
                        "properties": {"a": {"type": "string"}},
                        "additionalProperties": {"type": "string"},
                    },
                    "list": {"type": "array"},
                    "count": {"x-kubernetes-int-or-string": True},
                    "typedCount": {"x-kubernetes-int-or-string": True, "type": "string"},
                },
                "required": ["missing"],
            },
        },
    }

    violations = structural_violations(schema)

    assert [violation.split(":")[0] for violation in violations] == [
        "root metadata must be exactly {type",
        ".spec",
        ".spec.ref",
        ".spec.ref",
        ".spec.maybe",
        ".spec.maybe",
        ".spec.labels",
        ".spec.mixed",
        ".spec.list",
        ".spec.typedCount",
    ]


@pytest.mark.parametrize("kind", KIND_IDS)
def test_every_schema_is_structural(kind: str) -> None:
    for schema in schemas(CRDS[kind]):
        assert structural_violations(schema) == []


@pytest.mark.parametrize("kind", KIND_IDS)
def test_every_schema_is_valid_json_schema_with_valid_defaults(kind: str) -> None:
    for schema in schemas(CRDS[kind]):
        jsonschema.Draft202012Validator.check_schema(schema)
        for path, node in walk(schema):
            if "default" in node:
                assert jsonschema.Draft202012Validator(node).is_valid(node["default"]), path


@pytest.mark.parametrize("kind", KIND_IDS)
def test_every_property_is_described(kind: str) -> None:
    schema = schemas(CRDS[kind])[0]
    served_fields = {
        name: node
        for name, node in schema["properties"].items()
        if name not in ("apiVersion", "kind", "metadata")
    }

    assert "spec" in served_fields
    for name, top in served_fields.items():
        for path, node in walk(top, name):
            unnamed_scalar = node.get("type") in SCALAR_TYPES and path.endswith(("[]", "{}"))
            assert node.get("description") or unnamed_scalar, path


@pytest.mark.parametrize(
    ("kind", "served", "storage"),
    [
        ("GitRepository", ["v1"], "v1"),
        ("OCIRepository", ["v1"], "v1"),
        ("Kustomization", ["v1"], "v1"),
        ("ImageRepository", ["v1beta2", "v1"], "v1"),
        ("ImagePolicy", ["v1beta2", "v1"], "v1"),
        ("ImageUpdateAutomation", ["v1beta2", "v1"], "v1"),
        ("Receiver", ["v1"], "v1"),
        ("HelmRepository", ["v1"], "v1"),
        ("HelmChart", ["v1"], "v1"),
        ("Bucket", ["v1"], "v1"),
        ("ExternalArtifact", ["v1"], "v1"),
        ("HelmRelease", ["v2"], "v2"),
        ("Alert", ["v1beta3"], "v1beta3"),
        ("Provider", ["v1beta3"], "v1beta3"),
    ],
)
def test_each_kind_is_served_in_its_flux_versions_with_one_storage_version(
    kind: str, served: list[str], storage: str
) -> None:
    crd_versions = versions(CRDS[kind])

    assert [version["name"] for version in crd_versions if version["served"]] == served
    assert [version["name"] for version in crd_versions if version["storage"]] == [storage]


@pytest.mark.parametrize("kind", KIND_IDS)
def test_versions_share_one_schema_and_need_no_conversion(kind: str) -> None:
    crd = CRDS[kind]
    first, *others = schemas(crd)

    assert all(schema == first for schema in others)
    assert crd["spec"]["conversion"] == {"strategy": "None"}


@pytest.mark.parametrize("kind", WITH_STATUS)
def test_every_version_has_a_status_subresource_and_ready_columns(kind: str) -> None:
    for version in versions(CRDS[kind]):
        columns = {column["name"]: column for column in version["additionalPrinterColumns"]}
        assert version["subresources"] == {"status": {}}
        assert columns["Ready"] == {
            "name": "Ready",
            "type": "string",
            "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
        }
        assert columns["Status"]["jsonPath"] == '.status.conditions[?(@.type=="Ready")].message'
        assert columns["Age"] == {
            "name": "Age",
            "type": "date",
            "jsonPath": ".metadata.creationTimestamp",
        }


@pytest.mark.parametrize(
    ("kind", "column_names"),
    [
        ("GitRepository", ["URL", "Age", "Ready", "Status"]),
        ("OCIRepository", ["URL", "Ready", "Status", "Age"]),
        ("Kustomization", ["Age", "Ready", "Status"]),
        ("ImageRepository", ["Image", "Tags", "Ready", "Status", "Last scan", "Age"]),
        ("ImagePolicy", ["Image", "Tag", "Ready", "Status", "Age"]),
        ("ImageUpdateAutomation", ["Ready", "Status", "Last run", "Age"]),
        ("Receiver", ["Age", "Ready", "Status"]),
        ("HelmRepository", ["URL", "Age", "Ready", "Status"]),
        (
            "HelmChart",
            ["Chart", "Version", "Source Kind", "Source Name", "Age", "Ready", "Status"],
        ),
        ("Bucket", ["Endpoint", "Age", "Ready", "Status"]),
        ("ExternalArtifact", ["Age", "Ready", "Status", "Source"]),
        ("HelmRelease", ["Age", "Ready", "Status"]),
        ("Alert", ["Age"]),
        ("Provider", ["Age"]),
    ],
)
def test_printer_columns_are_in_flux_order(kind: str, column_names: list[str]) -> None:
    columns = versions(CRDS[kind])[0]["additionalPrinterColumns"]

    assert [column["name"] for column in columns] == column_names


@pytest.mark.parametrize(
    ("kind", "plural", "short_names", "family"),
    [
        ("GitRepository", "gitrepositories", ["gitrepo"], "fluxcd-sources"),
        ("OCIRepository", "ocirepositories", ["ocirepo"], "fluxcd-sources"),
        ("Kustomization", "kustomizations", ["ks"], "fluxcd-appliers"),
        ("ImageRepository", "imagerepositories", ["imgrepo", "imagerepo"], "fluxcd-images"),
        ("ImagePolicy", "imagepolicies", ["imgpol", "imagepol"], "fluxcd-images"),
        (
            "ImageUpdateAutomation",
            "imageupdateautomations",
            ["iua", "imgupd", "imgauto"],
            "fluxcd-images",
        ),
        ("Receiver", "receivers", None, "fluxcd-notifications"),
        ("HelmRepository", "helmrepositories", ["helmrepo"], "fluxcd-sources"),
        ("HelmChart", "helmcharts", ["hc"], "fluxcd-sources"),
        ("Bucket", "buckets", None, "fluxcd-sources"),
        ("ExternalArtifact", "externalartifacts", ["ea"], "fluxcd-sources"),
        ("HelmRelease", "helmreleases", ["hr"], "fluxcd-appliers"),
        ("Alert", "alerts", None, "fluxcd-notifications"),
        ("Provider", "providers", None, "fluxcd-notifications"),
    ],
)
def test_names_match_flux(
    kind: str, plural: str, short_names: list[str] | None, family: str
) -> None:
    crd = CRDS[kind]
    names = crd["spec"]["names"]

    assert crd["metadata"]["name"] == f"{plural}.{crd['spec']['group']}"
    assert crd["spec"]["scope"] == "Namespaced"
    assert names["plural"] == plural
    assert names["singular"] == kind.lower()
    assert names["listKind"] == f"{kind}List"
    assert names.get("shortNames") == short_names
    assert names["categories"] == ["all", "fluxcd", family]


def test_defaults_follow_flux() -> None:
    git_spec = schemas(CRDS["GitRepository"])[0]["properties"]["spec"]["properties"]
    ks_spec = schemas(CRDS["Kustomization"])[0]["properties"]["spec"]
    automation_spec = schemas(CRDS["ImageUpdateAutomation"])[0]["properties"]["spec"]["properties"]

    assert git_spec["timeout"]["default"] == "60s"
    assert "default" not in git_spec["ref"]
    assert "default" not in git_spec["suspend"]
    assert ks_spec["required"] == ["sourceRef", "interval", "prune"]
    assert ks_spec["properties"]["force"]["default"] is False
    assert automation_spec["update"]["default"] == {"strategy": "Setters"}


def test_free_form_maps_are_maps_of_strings() -> None:
    spec = schemas(CRDS["Kustomization"])[0]["properties"]["spec"]["properties"]

    assert spec["postBuild"]["properties"]["substitute"] == {
        "type": "object",
        "additionalProperties": {"type": "string"},
        "description": spec["postBuild"]["properties"]["substitute"]["description"],
    }


def test_yaml_output_is_deterministic_and_loads_back_to_the_manifests() -> None:
    text = crds_yaml()

    assert crds_yaml() == text
    assert list(yaml.safe_load_all(text)) == crd_manifests()
    assert text.startswith("---\napiVersion: apiextensions.k8s.io/v1\n")
    assert "&id" not in text


def kind_info(kind: str) -> KindInfo:
    return next(info for info in KINDS if info.kind == kind)


def test_the_complete_flux_crd_set_and_argo_cds_are_generated() -> None:
    assert {crd["metadata"]["name"] for crd in crd_manifests()} == FLUX_CRDS | ARGO_CRDS
    assert len(crd_manifests()) == len(FLUX_CRDS) + len(ARGO_CRDS)


@pytest.mark.parametrize("kind", ["Alert", "Provider"])
def test_alerts_and_providers_have_no_status_as_in_flux(kind: str) -> None:
    for version in versions(CRDS[kind]):
        assert "subresources" not in version
        assert "status" not in version["schema"]["openAPIV3Schema"]["properties"]


def test_kinds_without_a_model_are_the_ones_not_reconciled_besides_argo_cds() -> None:
    not_reconciled = {info.kind for info in KINDS if not info.reconciled}

    assert set(UNMODELLED) <= not_reconciled
    assert not_reconciled - set(UNMODELLED) <= set(ARGO_KINDS)
    assert sorted(UNMODELLED) == [
        "Alert",
        "Bucket",
        "ExternalArtifact",
        "Provider",
    ]


@pytest.mark.parametrize("kind", KIND_IDS)
def test_each_crd_says_whether_lockstep_reconciles_its_kind(kind: str) -> None:
    expected = "true" if kind_info(kind).reconciled else "false"

    assert CRDS[kind]["metadata"]["labels"] == {RECONCILED_LABEL: expected}


@pytest.mark.parametrize("kind", UNMODELLED)
def test_kinds_without_a_model_keep_spec_and_status_open(kind: str) -> None:
    for schema in schemas(CRDS[kind]):
        for name in ("spec", "status"):
            if name == "status" and not kind_info(kind).status_subresource:
                continue
            node = schema["properties"][name]
            assert node["type"] == "object"
            assert node["x-kubernetes-preserve-unknown-fields"] is True
            assert node.keys() <= {
                "type",
                "x-kubernetes-preserve-unknown-fields",
                "description",
                "default",
            }
        assert "required" not in schema


@pytest.mark.parametrize("kind", UNMODELLED)
def test_objects_of_unmodelled_kinds_validate_with_any_flux_fields(kind: str) -> None:
    info = kind_info(kind)
    manifest = {
        "apiVersion": info.api_version,
        "kind": kind,
        "metadata": {"name": "any", "namespace": "flux-system"},
        "spec": {
            "interval": "5m",
            "chart": {"spec": {"chart": "podinfo", "version": ">=6.0.0"}},
            "values": {"replicaCount": 2, "nested": [{"a": True}]},
            "eventSources": [{"kind": "Kustomization", "name": "*"}],
        },
    }
    schema = find_crd_schema(info)

    assert list(jsonschema.Draft202012Validator(schema).iter_errors(manifest)) == []


def find_crd_schema(info: KindInfo) -> dict[str, Any]:
    [storage] = [v for v in versions(CRDS[info.kind]) if v["storage"]]
    schema: dict[str, Any] = storage["schema"]["openAPIV3Schema"]
    return schema


def test_crd_names_come_from_the_registry() -> None:
    assert [crd["metadata"]["name"] for crd in crd_manifests()] == [
        kind_info(kind).crd_name for kind in KIND_IDS
    ]


class FreeFormSpec(ApiModel):
    """A spec carrying arbitrary values."""

    values: dict[str, Any] | None = None
    """Anything at all."""


class FreeForm(ApiObject):
    """A kind with a free-form field."""

    spec: FreeFormSpec


class TwoTypedSpec(ApiModel):
    """A spec with a field of two types."""

    replicas: int | str
    """A count or a percentage."""


class TwoTyped(ApiObject):
    """A kind with a union field."""

    spec: TwoTypedSpec


class UntypedSpec(ApiModel):
    """A spec with an untyped field."""

    anything: Any
    """No type at all."""


class Untyped(ApiObject):
    """A kind with an untyped field."""

    spec: UntypedSpec


def test_free_form_objects_keep_unknown_fields() -> None:
    values = openapi_schema(FreeForm)["properties"]["spec"]["properties"]["values"]

    assert values == {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
        "description": "Anything at all.",
    }


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (TwoTyped, "TwoTyped.spec.replicas: unions other than Optional"),
        (Untyped, "Untyped.spec.anything: every schema node needs a type"),
    ],
)
def test_fields_without_structural_form_are_refused_by_name(
    model: type[ApiObject], message: str
) -> None:
    with pytest.raises(SchemaGenerationError, match=message):
        openapi_schema(model)


@pytest.mark.parametrize("kind", [info.kind for info in KINDS if info.model is not None])
def test_each_model_writes_the_kind_and_version_of_the_table(kind: str) -> None:
    info = kind_info(kind)
    assert info.model is not None
    fields = info.model.model_fields

    assert fields["kind"].default == info.kind
    assert fields["api_version"].default == info.api_version


@pytest.mark.parametrize("kind", FLUX_KIND_IDS)
def test_a_new_object_has_observed_no_generation_yet_as_in_flux(kind: str) -> None:
    for schema in schemas(CRDS[kind]):
        status = schema["properties"].get("status")
        if kind_info(kind).status_subresource:
            assert status["default"] == {"observedGeneration": -1}
        else:
            assert status is None


@pytest.mark.parametrize("kind", FLUX_KIND_IDS)
def test_flux_schemas_declare_every_field_of_a_modelled_object(kind: str) -> None:
    """Keeping undeclared fields is for Argo CD's kinds: Flux's schemas stay as Flux's."""
    for schema in schemas(CRDS[kind]):
        for path, node in walk(schema):
            assert not ("properties" in node and node.get("x-kubernetes-preserve-unknown-fields"))
            assert "x-kubernetes-int-or-string" not in node, path


@pytest.mark.parametrize(
    ("kind", "plural", "short_names"),
    [
        ("Application", "applications", ["app", "apps"]),
        ("AppProject", "appprojects", ["appproj", "appprojs"]),
    ],
)
def test_argo_cd_kinds_are_named_and_served_as_argo_cd_serves_them(
    kind: str, plural: str, short_names: list[str]
) -> None:
    crd = CRDS[kind]
    names = crd["spec"]["names"]
    [version] = versions(crd)

    assert crd["metadata"]["name"] == f"{plural}.argoproj.io"
    assert crd["spec"]["scope"] == "Namespaced"
    assert names == {
        "kind": kind,
        "listKind": f"{kind}List",
        "plural": plural,
        "singular": kind.lower(),
        "shortNames": short_names,
    }
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    # Argo CD writes status with a plain patch: no status subresource, no status default.
    assert "subresources" not in version
    assert "default" not in version["schema"]["openAPIV3Schema"]["properties"]["status"]


def test_applications_print_argo_cds_columns() -> None:
    [version] = versions(CRDS["Application"])

    assert version["additionalPrinterColumns"] == [
        {"name": "Sync Status", "type": "string", "jsonPath": ".status.sync.status"},
        {"name": "Health Status", "type": "string", "jsonPath": ".status.health.status"},
        {
            "name": "Revision",
            "type": "string",
            "jsonPath": ".status.sync.revision",
            "priority": 10,
        },
        {"name": "Project", "type": "string", "jsonPath": ".spec.project", "priority": 10},
    ]
    assert versions(CRDS["AppProject"])[0]["additionalPrinterColumns"] == []


def test_an_application_serves_operation_beside_spec_and_status() -> None:
    schema = find_crd_schema(kind_info("Application"))
    operation = schema["properties"]["operation"]

    assert list(schema["properties"]) == [
        "apiVersion",
        "kind",
        "metadata",
        "spec",
        "operation",
        "status",
    ]
    assert schema["required"] == ["spec"]
    assert operation["type"] == "object"
    assert {"sync", "initiatedBy", "info", "retry"} <= operation["properties"].keys()


@pytest.mark.parametrize("kind", ARGO_KINDS)
def test_every_object_of_argo_cds_kinds_keeps_undeclared_fields(kind: str) -> None:
    schema = find_crd_schema(kind_info(kind))
    records = [
        (path, node)
        for name in ("spec", "operation", "status")
        if name in schema["properties"]
        for path, node in walk(schema["properties"][name], name)
        if node.get("type") == "object" and "additionalProperties" not in node
    ]

    assert len(records) >= (40 if kind == "Application" else 8)
    assert [
        path for path, node in records if not node.get("x-kubernetes-preserve-unknown-fields")
    ] == []


def test_a_replica_count_is_an_integer_or_a_string_as_in_argo_cd() -> None:
    spec = find_crd_schema(kind_info("Application"))["properties"]["spec"]
    kustomize = spec["properties"]["source"]["properties"]["kustomize"]
    count = kustomize["properties"]["replicas"]["items"]["properties"]["count"]

    assert count == {
        "x-kubernetes-int-or-string": True,
        "description": "Number of replicas, as a number or a string.",
    }
