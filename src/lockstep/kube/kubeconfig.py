"""A kubeconfig document that reaches a client's cluster as that client does, for a
program that is not lockstep: Helm's ``lookup`` in the rendering service
(:mod:`lockstep.render.helm`) reads the cluster with it, with the rights of the account
the release is made with.

The document is self-contained: the files a kubeconfig may name (the API server's CA,
a client certificate and key, a service account's token file) are read now and put in
as data, so it is handed over as text and never written to disk. An impersonating
client's document carries the user in ``as``, which Kubernetes clients send as the
``Impersonate-User`` header, as :mod:`lockstep.kube.impersonation` does.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import msgspec
import yaml

_FILES_AS_DATA = (
    ("certificate-authority", "certificate-authority-data"),
    ("client-certificate", "client-certificate-data"),
    ("client-key", "client-key-data"),
)
_CONTEXT = "lockstep"


def self_contained_kubeconfig(config: Any, user: str | None) -> str:
    """``config`` (a lightkube ``SingleConfig``) as a kubeconfig document with its
    files read in, acting as ``user`` when one is given."""
    cluster: dict[str, Any] = msgspec.to_builtins(config.cluster)
    credentials: dict[str, Any] = msgspec.to_builtins(config.user) if config.user else {}
    for section in (cluster, credentials):
        for path_key, data_key in _FILES_AS_DATA:
            path = section.pop(path_key, None)
            if path and not section.get(data_key):
                content = Path(config.abs_file(path)).read_bytes()
                section[data_key] = base64.b64encode(content).decode()
    token_file = credentials.pop("tokenFile", None)
    if token_file:
        # A projected token is rotated in its file: the one read now is current.
        credentials["token"] = Path(config.abs_file(token_file)).read_text().strip()
    if user:
        credentials["as"] = user
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": _CONTEXT, "cluster": cluster}],
        "users": [{"name": _CONTEXT, "user": credentials}],
        "contexts": [{"name": _CONTEXT, "context": {"cluster": _CONTEXT, "user": _CONTEXT}}],
        "current-context": _CONTEXT,
    }
    return yaml.safe_dump(document, sort_keys=False)
