"""The webhook server: each type's authentication, event filters, and the answers
for unknown paths, refused calls, large bodies and Receivers that take no calls."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from multidict import CIMultiDict

from lockstep.api.notification import Receiver
from lockstep.controllers.notification.receiver import (
    SUPPORTED_TYPES,
    NotServing,
    Requested,
    TokenUnavailable,
    webhook_path,
)
from lockstep.web.receiver import (
    CHECKS,
    MAX_BODY_BYTES,
    Accepted,
    Call,
    Ignored,
    Refused,
    Verdict,
    check_generic_hmac,
    check_github,
    check_gitlab,
    receiver_app,
)

TOKEN = b"s3cr3t"
BODY = b'{"ref": "refs/heads/main"}'


def sign(algorithm: str, body: bytes = BODY, token: bytes = TOKEN) -> str:
    return f"{algorithm}={hmac.new(token, body, getattr(hashlib, algorithm)).hexdigest()}"


def call(headers: dict[str, str], events: tuple[str, ...] = (), body: bytes = BODY) -> Call:
    return Call(CIMultiDict(headers), body, TOKEN, events)


def test_every_supported_type_has_a_check() -> None:
    assert set(CHECKS) == set(SUPPORTED_TYPES)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"X-Signature": sign("sha1")}, Accepted()),
        ({"X-Signature": sign("sha256")}, Accepted()),
        ({"X-Signature": sign("sha512")}, Accepted()),
        ({"x-signature": sign("sha256").upper().replace("SHA256=", "sha256=")}, Accepted()),
        ({}, Refused("no X-Signature header; set the webhook's secret to the Receiver's token")),
        ({"X-Signature": sign("md5")}, Refused("X-Signature names 'md5'; sign with one of sha1, sha256, sha512")),
        ({"X-Signature": "sha256=not-hex"}, Refused("X-Signature is not 'sha256=' followed by a hex digest")),
        ({"X-Signature": sign("sha256", token=b"wrong")}, Refused("X-Signature does not match the body signed with the Receiver's token")),
        ({"X-Signature": sign("sha256", body=b"other")}, Refused("X-Signature does not match the body signed with the Receiver's token")),
    ],
)  # fmt: skip
def test_generic_hmac(headers: dict[str, str], expected: Verdict) -> None:
    assert check_generic_hmac(call(headers)) == expected


@pytest.mark.parametrize(
    ("headers", "events", "expected"),
    [
        ({"X-Hub-Signature-256": sign("sha256"), "X-GitHub-Event": "push"}, (), Accepted("push")),
        ({"X-Hub-Signature-256": sign("sha256"), "X-GitHub-Event": "push"}, ("Push",), Accepted("push")),
        ({"X-Hub-Signature-256": sign("sha256"), "X-GitHub-Event": "release"}, ("push", "release"), Accepted("release")),
        ({"X-Hub-Signature-256": sign("sha256"), "X-GitHub-Event": "ping"}, (), Ignored("GitHub ping")),
        ({"X-Hub-Signature-256": sign("sha256"), "X-GitHub-Event": "ping"}, ("ping",), Ignored("GitHub ping")),
        ({"X-Hub-Signature-256": sign("sha256"), "X-GitHub-Event": "issues"}, ("push",), Ignored("GitHub event 'issues' is not in spec.events")),
        ({"X-GitHub-Event": "push"}, (), Refused("no X-Hub-Signature-256 header; set the webhook's secret to the Receiver's token")),
        ({"X-Hub-Signature-256": sign("sha1"), "X-GitHub-Event": "push"}, (), Refused("X-Hub-Signature-256 names 'sha1'; sign with one of sha256")),
        ({"X-Hub-Signature-256": sign("sha256", token=b"x"), "X-GitHub-Event": "ping"}, (), Refused("X-Hub-Signature-256 does not match the body signed with the Receiver's token")),
    ],
)  # fmt: skip
def test_github(headers: dict[str, str], events: tuple[str, ...], expected: Verdict) -> None:
    assert check_github(call(headers, events)) == expected


@pytest.mark.parametrize(
    ("headers", "events", "expected"),
    [
        ({"X-Gitlab-Token": "s3cr3t", "X-Gitlab-Event": "Push Hook"}, (), Accepted("Push Hook")),
        ({"X-Gitlab-Token": "s3cr3t", "X-Gitlab-Event": "Push Hook"}, ("push hook",), Accepted("Push Hook")),
        ({"X-Gitlab-Token": "s3cr3t", "X-Gitlab-Event": "Issue Hook"}, ("Push Hook",), Ignored("GitLab event 'Issue Hook' is not in spec.events")),
        ({"X-Gitlab-Event": "Push Hook"}, (), Refused("no X-Gitlab-Token header; set the webhook's secret token to the Receiver's")),
        ({"X-Gitlab-Token": "s3cr3", "X-Gitlab-Event": "Push Hook"}, (), Refused("X-Gitlab-Token is not the Receiver's token")),
    ],
)  # fmt: skip
def test_gitlab(headers: dict[str, str], events: tuple[str, ...], expected: Verdict) -> None:
    assert check_gitlab(call(headers, events)) == expected


class FakeDirectory:
    """One Receiver, its token, and a record of the reconcile requests."""

    def __init__(self, receiver: Receiver | None, token: bytes = TOKEN) -> None:
        self.receiver = receiver
        self.token_value = token
        self.serving = True
        self.requested: list[str] = []
        self.failures: list[str] = []

    def find(self, path: str) -> Receiver | None:
        if not self.serving:
            raise NotServing("the Receiver cache is not ready; retry shortly")
        if self.receiver and self.receiver.status and self.receiver.status.webhook_path == path:
            return self.receiver
        return None

    async def token(self, receiver: Receiver) -> bytes:
        if not self.token_value:
            raise TokenUnavailable("Secret flux-system/webhook-token does not exist")
        return self.token_value

    async def request_reconciliation(self, receiver: Receiver) -> Requested:
        self.requested.append(receiver.metadata.name)
        return Requested(["GitRepository/flux-system/repo"], list(self.failures))


PATH = webhook_path(TOKEN, "hook", "flux-system")


def make_receiver(type_: str = "github", ready: str = "True", **spec: Any) -> Receiver:
    return Receiver.model_validate(
        {
            "metadata": {"name": "hook", "namespace": "flux-system"},
            "spec": {
                "type": type_,
                "secretRef": {"name": "webhook-token"},
                "resources": [{"kind": "GitRepository", "name": "repo"}],
                **spec,
            },
            "status": {
                "webhookPath": PATH,
                "conditions": [
                    {
                        "type": "Ready",
                        "status": ready,
                        "reason": "Succeeded",
                        "message": "",
                        "lastTransitionTime": "2026-01-01T00:00:00Z",
                    }
                ],
            },
        }
    )


def github_headers(event: str = "push", body: bytes = BODY, token: bytes = TOKEN) -> dict[str, str]:
    return {"X-GitHub-Event": event, "X-Hub-Signature-256": sign("sha256", body, token)}


async def test_a_signed_push_triggers_and_a_wrong_signature_does_not() -> None:
    directory = FakeDirectory(make_receiver())
    async with TestClient(TestServer(receiver_app(directory))) as client:
        accepted = await client.post(PATH, data=BODY, headers=github_headers())
        assert accepted.status == 200
        assert "GitRepository/flux-system/repo" in await accepted.text()
        assert directory.requested == ["hook"]

        refused = await client.post(PATH, data=BODY, headers=github_headers(token=b"guess"))
        assert refused.status == 401
        ping = await client.post(PATH, data=BODY, headers=github_headers("ping"))
        assert ping.status == 200
        assert directory.requested == ["hook"], "neither a refused call nor a ping triggers"


async def test_generic_needs_only_the_path_and_gitlab_the_token() -> None:
    generic = FakeDirectory(make_receiver("generic"))
    async with TestClient(TestServer(receiver_app(generic))) as client:
        assert (await client.post(PATH)).status == 200
    assert generic.requested == ["hook"]

    gitlab = FakeDirectory(make_receiver("gitlab", events=["Push Hook"]))
    async with TestClient(TestServer(receiver_app(gitlab))) as client:
        push = {"X-Gitlab-Token": "s3cr3t", "X-Gitlab-Event": "Push Hook"}
        assert (await client.post(PATH, headers=push)).status == 200
        wrong = {**push, "X-Gitlab-Token": "other"}
        assert (await client.post(PATH, headers=wrong)).status == 401
    assert gitlab.requested == ["hook"]


async def test_generic_hmac_checks_the_signature() -> None:
    directory = FakeDirectory(make_receiver("generic-hmac"))
    async with TestClient(TestServer(receiver_app(directory))) as client:
        signed = await client.post(PATH, data=BODY, headers={"X-Signature": sign("sha512")})
        assert signed.status == 200
        unsigned = await client.post(PATH, data=BODY)
        assert unsigned.status == 401
    assert directory.requested == ["hook"]


@pytest.mark.parametrize(
    ("directory", "path", "status"),
    [
        (FakeDirectory(make_receiver()), webhook_path(b"other", "hook", "flux-system"), 404),
        (FakeDirectory(make_receiver()), "/hook/not-a-digest", 404),
        (FakeDirectory(make_receiver(suspend=True)), PATH, 503),
        (FakeDirectory(make_receiver(ready="False")), PATH, 503),
        (FakeDirectory(make_receiver(), token=b""), PATH, 503),
        # The token changed since the path was computed: the old path is no longer valid.
        (FakeDirectory(make_receiver(), token=b"rotated"), PATH, 404),
        (FakeDirectory(make_receiver("quay")), PATH, 503),
    ],
)
async def test_calls_that_reach_no_receiver(
    directory: FakeDirectory, path: str, status: int
) -> None:
    async with TestClient(TestServer(receiver_app(directory))) as client:
        response = await client.post(path, data=BODY, headers=github_headers())
        assert response.status == status
    assert directory.requested == []


async def test_no_answers_before_the_cache_is_synced() -> None:
    directory = FakeDirectory(make_receiver())
    directory.serving = False
    async with TestClient(TestServer(receiver_app(directory))) as client:
        response = await client.post(PATH, data=BODY, headers=github_headers())
        assert response.status == 503
        assert "retry shortly" in await response.text()


async def test_a_body_over_the_limit_is_refused() -> None:
    directory = FakeDirectory(make_receiver())
    body = b"x" * (MAX_BODY_BYTES + 1)
    async with TestClient(TestServer(receiver_app(directory))) as client:
        response = await client.post(PATH, data=body, headers=github_headers(body=body))
        assert response.status == 413
    assert directory.requested == []


async def test_failed_annotations_answer_500() -> None:
    directory = FakeDirectory(make_receiver())
    directory.failures = ["GitRepository/flux-system/gone: not found"]
    async with TestClient(TestServer(receiver_app(directory))) as client:
        response = await client.post(PATH, data=BODY, headers=github_headers())
        assert response.status == 500
        assert "gone: not found" in await response.text()


async def test_each_call_is_logged_without_the_token(caplog: pytest.LogCaptureFixture) -> None:
    directory = FakeDirectory(make_receiver())
    caplog.set_level("INFO", logger="lockstep.web.receiver")
    async with TestClient(TestServer(receiver_app(directory))) as client:
        await client.post(PATH, data=BODY, headers=github_headers())
        await client.post(PATH, data=BODY, headers=github_headers(token=b"guess"))
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 2
    assert "accepted github event 'push' from 127.0.0.1" in lines[0]
    assert "refused a call" in lines[1]
    assert all("s3cr3t" not in line for line in lines)
