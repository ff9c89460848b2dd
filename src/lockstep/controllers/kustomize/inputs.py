"""What a Kustomization's build needs from the cluster besides its source: postBuild
variables and decryption keys.

- ``postBuild.substituteFrom``: the data of each ConfigMap / Secret (Secret values
  base64-decoded), later objects winning over earlier ones, then
  ``postBuild.substitute`` winning over all; a missing object fails the build
  unless the reference is ``optional``. As in Flux, line breaks are removed from the
  values, and substitution is off when no variable results (unless
  ``postBuild.substituteStrategy`` is ``Always``).
- ``decryption.secretRef``: the age private keys of the Secret's ``*.agekey``
  entries (read with :func:`~lockstep.runtime.secrets.secret_data`, as every kind reads
  the Secrets it names), handed to the renderer and never written anywhere.

Objects are read with lockstep's own client, as Flux reads them with its own,
in the Kustomization's namespace. Called by the Kustomization reconciler.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

from lockstep.api.kustomize import Kustomization
from lockstep.api.meta import ConditionReason
from lockstep.kube import KubeClient, KubeError, KubeObject, NotFound, ObjectRef
from lockstep.runtime.secrets import SecretUnavailable, secret_data

AGE_KEY_SUFFIX = ".agekey"
SUBSTITUTE_FROM = "postBuild.substituteFrom"


class InputUnavailable(Exception):
    """A ConfigMap or Secret the build needs cannot be read; the message says which and why."""

    reason = ConditionReason.BUILD_FAILED


@dataclass(frozen=True)
class BuildInputs:
    """Variables to substitute (``None``: postBuild substitution is off) and age keys."""

    variables: dict[str, str] | None = None
    age_keys: tuple[str, ...] = field(default=())
    strict_substitution: bool = True
    """An undefined variable without default fails the build (Flux's default since
    kustomize-controller v1.9); else it is the empty string."""


async def build_inputs(
    kube: KubeClient, kustomization: Kustomization, *, strict_substitution: bool = True
) -> BuildInputs:
    """Read the variables and keys ``kustomization`` asks for; raises :class:`InputUnavailable`."""
    return BuildInputs(
        variables=await _variables(kube, kustomization),
        age_keys=await _age_keys(kube, kustomization),
        strict_substitution=strict_substitution,
    )


async def _variables(kube: KubeClient, kustomization: Kustomization) -> dict[str, str] | None:
    post_build = kustomization.spec.post_build
    if post_build is None:
        return None
    namespace = kustomization.metadata.namespace or ""
    variables: dict[str, str] = {}
    for reference in post_build.substitute_from:
        ref = ObjectRef("v1", reference.kind, reference.name, namespace)
        obj = await _read(kube, ref, optional=reference.optional, purpose=SUBSTITUTE_FROM)
        if obj is not None:
            variables.update(_data(obj, ref))
    variables.update(post_build.substitute)
    if not variables and post_build.substitute_strategy != "Always":
        return None
    return {name: value.replace("\n", "") for name, value in variables.items()}


async def _age_keys(kube: KubeClient, kustomization: Kustomization) -> tuple[str, ...]:
    decryption = kustomization.spec.decryption
    if decryption is None or decryption.secret_ref is None:
        return ()
    name, field = decryption.secret_ref.name, "spec.decryption.secretRef"
    try:
        data = await secret_data(kube, kustomization, name, field)
    except SecretUnavailable as error:
        raise InputUnavailable(str(error)) from error
    except KubeError as error:
        raise InputUnavailable(
            f"Secret {kustomization.metadata.namespace}/{name} ({field}) cannot be read: "
            f"{error.message}"
        ) from error
    keys = []
    for key, value in sorted(data.items()):
        if not key.endswith(AGE_KEY_SUFFIX):
            continue
        try:
            keys.append(value.decode())
        except UnicodeDecodeError as error:
            raise InputUnavailable(
                f"Secret {kustomization.metadata.namespace}/{name} ({field}): entry {key} is "
                "not UTF-8 text; store the age private key as is"
            ) from error
    if not keys:
        raise InputUnavailable(
            f"Secret {kustomization.metadata.namespace}/{name} ({field}) has no entry ending "
            f"in {AGE_KEY_SUFFIX}; add the age private key as e.g. identity.agekey"
        )
    return tuple(keys)


async def _read(
    kube: KubeClient, ref: ObjectRef, *, optional: bool, purpose: str
) -> KubeObject | None:
    try:
        return await kube.get(ref)
    except NotFound as error:
        if optional:
            return None
        hint = " or mark the reference optional" if purpose == SUBSTITUTE_FROM else ""
        raise InputUnavailable(f"{ref} ({purpose}) does not exist; create it{hint}") from error
    except KubeError as error:
        raise InputUnavailable(f"{ref} ({purpose}) cannot be read: {error.message}") from error


def _data(obj: KubeObject, ref: ObjectRef) -> dict[str, str]:
    """The string data of a ConfigMap, or the decoded data of a Secret."""
    if ref.kind == "ConfigMap":
        return {str(key): str(value) for key, value in (obj.get("data") or {}).items()}
    decoded = {}
    for key, value in (obj.get("data") or {}).items():
        try:
            decoded[str(key)] = base64.b64decode(str(value), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as error:
            raise InputUnavailable(
                f"{ref}: entry {key} is not base64-encoded UTF-8 text"
            ) from error
    return decoded
