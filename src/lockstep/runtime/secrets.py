"""Reading the Secrets an object names: one reader, one error, for every kind.

An object names Secrets in its spec (``spec.secretRef``, ``spec.certSecretRef``,
``spec.verify.secretRef``, the ``imagePullSecrets`` of ``spec.serviceAccountName``);
:func:`secret_data` reads one from the API server (never from a cache: Secrets are
not watched) in the object's namespace and returns its data decoded.
A Secret that does not exist, or lacks a key the caller needs, raises
:class:`SecretUnavailable` with a message that names the Secret, the field and the
object, and says what to do; each reconciler reports it under its own reason.
Other API errors (forbidden, unreachable) propagate as :class:`~lockstep.kube.KubeError`.

Called by the reconcilers of every family in :mod:`lockstep.controllers`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence

from lockstep.api.meta import ApiObject
from lockstep.kube import KubeClient, NotFound, ObjectRef


class SecretUnavailable(Exception):
    """A Secret an object names does not exist, lacks a key, or holds data that is not base64."""


def owner_name(owner: ApiObject) -> str:
    """``Kind namespace/name``, as messages name an object."""
    return f"{owner.kind} {owner.metadata.namespace}/{owner.metadata.name}"


async def secret_data(
    kube: KubeClient,
    owner: ApiObject,
    name: str,
    field: str,
    *,
    keys: Sequence[str] = (),
) -> dict[str, bytes]:
    """The decoded data of the Secret ``name`` in ``owner``'s namespace, which ``field``
    of ``owner`` names; every key of ``keys`` must be there and not empty."""
    namespace = owner.metadata.namespace or ""
    where = f"Secret {namespace}/{name} named in {field} of {owner_name(owner)}"
    try:
        secret = await kube.get(ObjectRef("v1", "Secret", name, namespace))
    except NotFound as error:
        raise SecretUnavailable(f"{where} does not exist; create it") from error
    try:
        data = {
            str(key): base64.b64decode(str(value), validate=True)
            for key, value in (secret.get("data") or {}).items()
        }
    except binascii.Error as error:
        raise SecretUnavailable(f"{where} holds data that is not base64; recreate it") from error
    for key in keys:
        if not data.get(key):
            raise SecretUnavailable(f"{where} has no '{key}' key; add it")
    return data


async def pull_secrets_data(
    kube: KubeClient, owner: ApiObject, service_account: str
) -> list[dict[str, bytes]]:
    """The data of the ``imagePullSecrets`` of ``service_account`` (``owner``'s
    ``spec.serviceAccountName``), in their order, as Flux reads registry credentials."""
    namespace = owner.metadata.namespace or ""
    try:
        account = await kube.get(ObjectRef("v1", "ServiceAccount", service_account, namespace))
    except NotFound as error:
        raise SecretUnavailable(
            f"ServiceAccount {namespace}/{service_account} named in spec.serviceAccountName "
            f"of {owner_name(owner)} does not exist; create it"
        ) from error
    names = [str(entry.get("name")) for entry in account.get("imagePullSecrets") or []]
    field = f"the imagePullSecrets of ServiceAccount {namespace}/{service_account}"
    return [await secret_data(kube, owner, name, field) for name in names if name]
