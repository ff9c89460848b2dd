"""CustomResourceDefinitions generated from the kind table and the API models.

The CLI and the local control plane install these before any controller
starts: one per kind of `kinds.KINDS`, Flux's complete set and Argo CD's
Application and AppProject. Each schema is the model's pydantic JSON schema
rewritten into the structural OpenAPI v3 subset Kubernetes requires:
references inlined, Optional turned into a plain optional property, free-form
maps and models that keep undeclared fields (`extra="allow"`, as the Argo CD
models do) marked to keep unknown fields, integer-or-string fields marked as
such, and only the defaults declared with `meta.server_default` kept. Every
top-level field of the model is served, so Argo CD's `operation` sits beside
`spec` and `status`. A kind without a model gets an open schema instead
(`spec` and `status` keep every field), so that objects written for Flux's
schema lose nothing. Each CRD carries the `lockstep.io/reconciled` label,
saying whether lockstep reconciles the kind or only serves it.
"""

import copy
from typing import Any

import yaml

from lockstep.api.argo import INT_OR_STRING_MARK
from lockstep.api.kinds import KINDS, RECONCILED_LABEL, KindInfo, PrinterColumn
from lockstep.api.meta import SERVER_DEFAULT_MARK, ApiObject

NULL_SCHEMA = {"type": "null"}

SCHEMA_KEYWORDS = frozenset(
    {
        "type",
        "description",
        "properties",
        "required",
        "items",
        "additionalProperties",
        "enum",
        "pattern",
        "format",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "minimum",
        "maximum",
        "default",
    }
)
"""Keywords a generated schema node may carry; anything else is a modelling mistake."""

TOP_LEVEL_FIELDS = {
    "apiVersion": {
        "type": "string",
        "description": "Group and version of the object's schema.",
    },
    "kind": {
        "type": "string",
        "description": "Kind of the object.",
    },
    "metadata": {"type": "object"},
}
"""Fields the API server owns: the schema only states their types."""

UNOBSERVED_STATUS = {"observedGeneration": -1}
"""The status a new object gets from its CRD's default, as Flux's CRDs give it."""

PRESERVE_UNKNOWN_FIELDS = "x-kubernetes-preserve-unknown-fields"
OPEN_OBJECT = {"type": "object", PRESERVE_UNKNOWN_FIELDS: True}


class SchemaGenerationError(ValueError):
    """A model uses a construct that has no structural OpenAPI form."""


def crd_manifests() -> list[dict[str, Any]]:
    """One apiextensions.k8s.io/v1 CustomResourceDefinition per served kind."""
    return [crd_manifest(info) for info in KINDS]


def crds_yaml() -> str:
    """All CRDs as one multi-document YAML stream, byte-identical across runs."""
    return manifests_yaml(crd_manifests())


def manifests_yaml(manifests: list[dict[str, Any]]) -> str:
    """Manifests as one multi-document YAML stream, without anchors, byte-identical across runs."""
    return yaml.dump_all(manifests, Dumper=_NoAliasDumper, sort_keys=True, explicit_start=True)


def crd_manifest(info: KindInfo) -> dict[str, Any]:
    """The CustomResourceDefinition of one kind, every served version sharing one schema."""
    schema = openapi_schema(info.model) if info.model is not None else open_schema(info)
    status = schema["properties"].get("status")
    if info.status_subresource and status is not None:
        # As in Flux's CRDs: a new object's status says no generation was observed yet, so
        # a health check (kstatus) sees it in progress until its controller has run.
        status["default"] = dict(UNOBSERVED_STATUS)
    names: dict[str, Any] = {
        "kind": info.kind,
        "listKind": f"{info.kind}List",
        "plural": info.plural,
        "singular": info.singular,
    }
    if info.categories:
        names["categories"] = list(info.categories)
    if info.short_names:
        names["shortNames"] = list(info.short_names)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": info.crd_name,
            "labels": {RECONCILED_LABEL: "true" if info.reconciled else "false"},
        },
        "spec": {
            "group": info.group,
            "names": names,
            "scope": "Namespaced",
            # Versions share one schema, so objects convert by rewriting apiVersion.
            "conversion": {"strategy": "None"},
            "versions": [_version(info, version, schema) for version in info.served_versions],
        },
    }


def _version(info: KindInfo, version: str, schema: dict[str, Any]) -> dict[str, Any]:
    served: dict[str, Any] = {
        "name": version,
        "served": True,
        "storage": version == info.storage_version,
        "schema": {"openAPIV3Schema": copy.deepcopy(schema)},
        "additionalPrinterColumns": [_printer_column(column) for column in info.printer_columns],
    }
    if info.status_subresource:
        served["subresources"] = {"status": {}}
    return served


def openapi_schema(model: type[ApiObject]) -> dict[str, Any]:
    """The structural openAPIV3Schema of a top-level model."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    definitions: dict[str, Any] = raw.pop("$defs", {})
    schema = _structural(raw, definitions, model.__name__)
    schema["properties"].update(copy.deepcopy(TOP_LEVEL_FIELDS))
    schema["required"] = [name for name in schema["required"] if name not in TOP_LEVEL_FIELDS]
    return schema


def open_schema(info: KindInfo) -> dict[str, Any]:
    """The schema of a kind lockstep has no model of: `spec` (and `status`, for kinds
    with a status) keep every field, so nothing Flux's schema allows is pruned."""
    properties: dict[str, Any] = copy.deepcopy(TOP_LEVEL_FIELDS)
    properties["spec"] = {
        **OPEN_OBJECT,
        "description": f"Desired state of the {info.kind}, as Flux's API defines it.",
    }
    if info.status_subresource:
        properties["status"] = {
            **OPEN_OBJECT,
            "description": f"Observed state of the {info.kind}, as Flux's API defines it.",
        }
    return {
        "type": "object",
        "description": f"A Flux {info.kind}; lockstep keeps its fields as written.",
        "properties": properties,
    }


def _structural(node: dict[str, Any], definitions: dict[str, Any], path: str) -> dict[str, Any]:
    """`node` rewritten into structural form; `path` names it in errors, e.g. `Kustomization.spec`."""
    node = dict(node)
    if "$ref" in node:
        target = definitions[node.pop("$ref").removeprefix("#/$defs/")]
        return _structural({**target, **node}, definitions, path)
    if "anyOf" in node:
        options = [option for option in node.pop("anyOf") if option != NULL_SCHEMA]
        if len(options) != 1:
            raise SchemaGenerationError(f"{path}: unions other than Optional[X] are not structural")
        return _structural({**options[0], **node}, definitions, path)

    node.pop("title", None)
    if "description" in node:
        node["description"] = _unwrap(node["description"])
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if node.pop(SERVER_DEFAULT_MARK, False):
        node["default"] = _without_none(node["default"])
    else:
        node.pop("default", None)

    if "properties" in node:
        node["properties"] = {
            name: _structural(child, definitions, f"{path}.{name}")
            for name, child in node["properties"].items()
        }
    if "items" in node:
        node["items"] = _structural(node["items"], definitions, f"{path}[]")
    if node.get("additionalProperties") is True:
        # A free-form map, or a model that keeps undeclared fields beside its properties.
        del node["additionalProperties"]
        node[PRESERVE_UNKNOWN_FIELDS] = True
    elif "additionalProperties" in node:
        node["additionalProperties"] = _structural(
            node["additionalProperties"], definitions, f"{path}{{}}"
        )

    unexpected = node.keys() - SCHEMA_KEYWORDS - {PRESERVE_UNKNOWN_FIELDS, INT_OR_STRING_MARK}
    if unexpected:
        raise SchemaGenerationError(f"{path}: no structural form for {sorted(unexpected)}")
    if "type" not in node and not node.get(INT_OR_STRING_MARK):
        raise SchemaGenerationError(f"{path}: every schema node needs a type")
    return node


def _unwrap(docstring: str) -> str:
    """Docstring paragraphs as single lines, so descriptions read the same in any viewer."""
    paragraphs = docstring.strip().split("\n\n")
    return "\n\n".join(" ".join(paragraph.split()) for paragraph in paragraphs)


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_none(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_none(item) for item in value]
    return value


def _printer_column(column: PrinterColumn) -> dict[str, Any]:
    printed: dict[str, Any] = {
        "name": column.name,
        "type": column.type,
        "jsonPath": column.json_path,
    }
    if column.priority:
        printed["priority"] = column.priority
    return printed


class _NoAliasDumper(yaml.SafeDumper):
    """Writes repeated values out in full: CRD readers do not expect YAML anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True
