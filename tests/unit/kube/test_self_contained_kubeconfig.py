"""The kubeconfig handed to Helm's ``lookup``: every file it names read in, the
impersonated user in ``as``."""

from __future__ import annotations

import base64
from pathlib import Path

import yaml
from lightkube import KubeConfig

from lockstep.kube import KubeClient
from lockstep.kube.kubeconfig import self_contained_kubeconfig

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority: pki/ca.crt
users:
- name: admin
  user:
    client-certificate: pki/admin.crt
    client-key-data: {key}
- name: robot
  user:
    tokenFile: /{folder}/token
contexts:
- name: admin
  context: {{cluster: local, user: admin}}
- name: robot
  context: {{cluster: local, user: robot}}
current-context: admin
"""


def _written(tmp_path: Path) -> Path:
    (tmp_path / "pki").mkdir()
    (tmp_path / "pki" / "ca.crt").write_text("the CA\n")
    (tmp_path / "pki" / "admin.crt").write_text("the certificate\n")
    (tmp_path / "token").write_text("rotated-token\n")
    key = base64.b64encode(b"the key").decode()
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG.format(key=key, folder=str(tmp_path).lstrip("/")))
    return path


def _data(text: str) -> dict[str, object]:
    document = yaml.safe_load(text)
    [cluster], [user] = document["clusters"], document["users"]
    return {**cluster["cluster"], **user["user"]}


def test_the_files_a_kubeconfig_names_are_read_in(tmp_path: Path) -> None:
    config = KubeConfig.from_file(_written(tmp_path)).get()

    data = _data(self_contained_kubeconfig(config, None))

    assert data == {
        "server": "https://127.0.0.1:6443",
        "certificate-authority-data": base64.b64encode(b"the CA\n").decode(),
        "client-certificate-data": base64.b64encode(b"the certificate\n").decode(),
        "client-key-data": base64.b64encode(b"the key").decode(),
    }


def test_a_token_file_is_read_now_and_the_impersonated_user_is_named(tmp_path: Path) -> None:
    config = KubeConfig.from_file(_written(tmp_path)).get(context_name="robot")

    data = _data(self_contained_kubeconfig(config, "system:serviceaccount:apps:deployer"))

    assert data["token"] == "rotated-token"
    assert data["as"] == "system:serviceaccount:apps:deployer"
    assert "tokenFile" not in data


def test_an_impersonating_client_hands_over_its_user() -> None:
    client = KubeClient.from_kubeconfig_document(
        {
            "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:9"}}],
            "users": [{"name": "u", "user": {"token": "t"}}],
            "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "x",
        },
        source="a test",
    )

    own = yaml.safe_load(client.self_contained_kubeconfig())
    acting = yaml.safe_load(client.impersonating("jane").self_contained_kubeconfig())

    assert "as" not in own["users"][0]["user"]
    assert acting["users"][0]["user"]["as"] == "jane"
