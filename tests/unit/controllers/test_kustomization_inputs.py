"""postBuild variables as Flux gathers them: line breaks removed from values, and no
substitution at all without variables unless substituteStrategy is Always."""

from __future__ import annotations

from typing import Any

import pytest

from ground.kustomizations import ObjectTable, kustomization
from lockstep.api.kustomize import Kustomization
from lockstep.controllers.kustomize.inputs import InputUnavailable, build_inputs
from lockstep.kube import ObjectRef


def with_post_build(post_build: dict[str, Any] | None) -> Kustomization:
    spec = {} if post_build is None else {"postBuild": post_build}
    return kustomization("apps", "ns", **spec)


VARS = {
    "kind": "ConfigMap",
    "metadata": {"name": "vars", "namespace": "ns"},
    "data": {"certificate": "line one\nline two\n", "region": "eu"},
}


async def test_values_lose_their_line_breaks_and_inline_ones_win() -> None:
    inputs = await build_inputs(
        ObjectTable(VARS),  # type: ignore[arg-type]
        with_post_build(
            {
                "substitute": {"region": "us\n"},
                "substituteFrom": [{"kind": "ConfigMap", "name": "vars"}],
            }
        ),
    )

    assert inputs.variables == {"certificate": "line oneline two", "region": "us"}
    assert inputs.strict_substitution


@pytest.mark.parametrize(
    ("post_build", "expected"),
    [
        (None, None),
        ({}, None),
        ({"substituteFrom": [{"kind": "ConfigMap", "name": "absent", "optional": True}]}, None),
        ({"substituteStrategy": "Always"}, {}),
        ({"substituteStrategy": "WithVariables", "substitute": {"a": "b"}}, {"a": "b"}),
    ],
)
async def test_substitution_is_off_without_variables_unless_always(
    post_build: dict[str, Any] | None, expected: dict[str, str] | None
) -> None:
    inputs = await build_inputs(ObjectTable(), with_post_build(post_build))  # type: ignore[arg-type]

    assert inputs.variables == expected


def decrypting() -> Kustomization:
    return kustomization(
        "apps", "ns", decryption={"provider": "sops", "secretRef": {"name": "sops-age"}}
    )


async def test_age_keys_come_from_the_agekey_entries_of_the_decryption_secret() -> None:
    secret = {
        "kind": "Secret",
        "metadata": {"name": "sops-age", "namespace": "ns"},
        # "AGE-SECRET-KEY-1" and "other" in base64.
        "data": {"identity.agekey": "QUdFLVNFQ1JFVC1LRVktMQ==", "notes": "b3RoZXI="},
    }
    inputs = await build_inputs(ObjectTable(secret), decrypting())  # type: ignore[arg-type]

    assert inputs.age_keys == ("AGE-SECRET-KEY-1",)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            None,
            "Secret ns/sops-age named in spec.decryption.secretRef of Kustomization ns/apps "
            "does not exist; create it",
        ),
        (
            {"notes": "b3RoZXI="},
            "Secret ns/sops-age (spec.decryption.secretRef) has no entry ending in .agekey; "
            "add the age private key as e.g. identity.agekey",
        ),
    ],
)
async def test_an_unusable_decryption_secret_says_what_to_do(
    data: dict[str, str] | None, message: str
) -> None:
    objects = (
        []
        if data is None
        else [{"kind": "Secret", "metadata": {"name": "sops-age", "namespace": "ns"}, "data": data}]
    )

    with pytest.raises(InputUnavailable) as raised:
        await build_inputs(ObjectTable(*objects), decrypting())  # type: ignore[arg-type]

    assert str(raised.value) == message


class Recording(ObjectTable):
    """Records the namespace of every read."""

    def __init__(self, *objects: dict[str, Any]) -> None:
        super().__init__(*objects)
        self.namespaces: list[str] = []

    async def get(self, ref: ObjectRef) -> dict[str, Any]:
        self.namespaces.append(ref.namespace)
        return await super().get(ref)


async def test_variables_and_keys_are_read_from_the_kustomizations_own_namespace() -> None:
    secret = {
        "kind": "Secret",
        "metadata": {"name": "keys", "namespace": "ns"},
        "data": {"identity.agekey": "QUdFLVNFQ1JFVC1LRVktMQ=="},
    }
    kube = Recording(VARS, secret)
    target = kustomization(
        "apps",
        "ns",
        postBuild={"substituteFrom": [{"kind": "ConfigMap", "name": "vars"}]},
        decryption={"provider": "sops", "secretRef": {"name": "keys"}},
    )

    await build_inputs(kube, target)  # type: ignore[arg-type]

    # The references have no namespace field: every read is in the Kustomization's own.
    assert kube.namespaces == ["ns", "ns"]
