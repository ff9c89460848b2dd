"""The generated CRDs are Flux's complete set: structural schemas, Flux's names, versions
and columns, and open schemas for the kinds lockstep does not model yet."""

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
        if node_type not in SCALAR_TYPES | {"object", "array"}:
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
    spec_and_status = {
        name: schema["properties"][name]
        for name in ("spec", "status")
        if name in schema["properties"]
    }

    assert "spec" in spec_and_status
    for name, top in spec_and_status.items():
        for path, node in walk(top, name):
            unnamed_scalar = node["type"] in SCALAR_TYPES and path.endswith(("[]", "{}"))
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


def test_the_complete_flux_crd_set_is_generated() -> None:
    assert {crd["metadata"]["name"] for crd in crd_manifests()} == FLUX_CRDS
    assert len(crd_manifests()) == len(FLUX_CRDS)


@pytest.mark.parametrize("kind", ["Alert", "Provider"])
def test_alerts_and_providers_have_no_status_as_in_flux(kind: str) -> None:
    for version in versions(CRDS[kind]):
        assert "subresources" not in version
        assert "status" not in version["schema"]["openAPIV3Schema"]["properties"]


def test_kinds_without_a_model_are_the_ones_not_reconciled() -> None:
    assert sorted(UNMODELLED) == sorted(info.kind for info in KINDS if not info.reconciled)
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


@pytest.mark.parametrize("kind", KIND_IDS)
def test_a_new_object_has_observed_no_generation_yet_as_in_flux(kind: str) -> None:
    for schema in schemas(CRDS[kind]):
        status = schema["properties"].get("status")
        if kind_info(kind).status_subresource:
            assert status["default"] == {"observedGeneration": -1}
        else:
            assert status is None
