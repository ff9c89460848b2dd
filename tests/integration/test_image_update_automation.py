"""ImageUpdateAutomation against the real engine and a real Git server (git daemon, which
accepts pushes): marked manifests rewritten, committed with the author and a Flux-style
message template, and pushed; nothing committed when nothing changes; a marker naming a
missing policy reported with its file and line; a separate push branch, with push
options; new commits on the branch between runs built upon; signed commits pushed over
HTTP with the GitRepository's credentials.

The ImagePolicies are suspended and given their elected image with a status write, so
these tests do not wait for registry scans.
"""

from __future__ import annotations

import base64
import secrets
from pathlib import Path
from typing import Any

import pytest

from ground.artifacts import condition
from ground.engine import Engine
from ground.gitops import Scenario
from ground.gpg import GnuPG, gpg
from ground.wait import eventually
from lockstep.dev.gitserver import GitServer, ServedRepo, run_git
from lockstep.kube import KubeClient, KubeObject, ObjectRef

pytestmark = pytest.mark.integration

IMAGE_API = "image.toolkit.fluxcd.io/v1"

MESSAGE_TEMPLATE = """\
Automated image update

Automation name: {{ .AutomationObject }}

Files:
{{ range $filename, $_ := .Changed.FileChanges -}}
- {{ $filename }}
{{ end -}}

Objects:
{{ range $resource, $changes := .Changed.Objects -}}
- {{ $resource.Kind }} {{ $resource.Name }}
  Changes:
{{- range $_, $change := $changes }}
    - {{ $change.OldValue }} -> {{ $change.NewValue }}
{{ end -}}
{{ end -}}
"""


def marked_deployment(namespace: str, policy: str, tag: str = "1.27") -> str:
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web  # the front end
spec:
  template:
    spec:
      containers:
        - name: web
          image: nginx:{tag} # {{"$imagepolicy": "{namespace}:{policy}"}}
          ports: [{{containerPort: 80}}]
"""


async def elected_policy(scenario: Scenario, name: str, tag: str, **labels: str) -> None:
    """A suspended ImagePolicy that has elected ``nginx:<tag>``."""
    metadata = {"name": name, "namespace": scenario.namespace, "labels": labels}
    await scenario.kube.apply(
        {
            "apiVersion": IMAGE_API,
            "kind": "ImagePolicy",
            "metadata": metadata,
            "spec": {
                "imageRepositoryRef": {"name": name},
                "policy": {"semver": {"range": ">=1.0.0"}},
                "suspend": True,
            },
        }
    )
    await scenario.kube.apply_status(
        {
            "apiVersion": IMAGE_API,
            "kind": "ImagePolicy",
            "metadata": {"name": name, "namespace": scenario.namespace},
            "status": {"latestRef": {"name": "nginx", "tag": tag}},
        }
    )


async def automation(
    scenario: Scenario, *, signing_key: str | None = None, interval: str = "1h", **git: Any
) -> ObjectRef:
    commit: KubeObject = {
        "author": {"name": "Flux Bot", "email": "flux@lockstep.invalid"},
        "messageTemplate": MESSAGE_TEMPLATE,
    }
    if signing_key:
        commit["signingKey"] = {"secretRef": {"name": signing_key}}
    spec: KubeObject = {
        "sourceRef": {"kind": "GitRepository", "name": "repo"},
        "interval": interval,
        "git": {"checkout": {"ref": {"branch": "main"}}, "commit": commit, **git},
        "update": {"strategy": "Setters", "path": "./apps"},
    }
    await scenario.kube.apply(
        {
            "apiVersion": IMAGE_API,
            "kind": "ImageUpdateAutomation",
            "metadata": {"name": "bump", "namespace": scenario.namespace},
            "spec": spec,
        }
    )
    return ObjectRef(IMAGE_API, "ImageUpdateAutomation", "bump", scenario.namespace)


async def pushed(scenario: Scenario, ref: ObjectRef, previous: str | None = None) -> KubeObject:
    """The automation once it reports a push other than `previous`, and is Ready."""
    return await eventually(
        lambda: scenario.kube.get(ref),
        lambda o: (
            (o.get("status") or {}).get("lastPushCommit") not in (None, previous)
            and condition(o, "Ready").startswith("True")
        ),
        within=60,
        what=f"{ref} pushed a commit",
    )


async def request_run(scenario: Scenario, ref: ObjectRef) -> KubeObject:
    """Ask for a run now and return the automation once it has handled the request."""
    token = secrets.token_hex(4)
    await scenario.kube.json_patch(
        ref,
        [
            {
                "op": "add",
                "path": "/metadata/annotations",
                "value": {"reconcile.fluxcd.io/requestedAt": token},
            }
        ],
    )
    return await eventually(
        lambda: scenario.kube.get(ref),
        lambda o: (o.get("status") or {}).get("lastHandledReconcileAt") == token,
        within=60,
        what=f"{ref} handled reconcile request {token}",
    )


def git(scenario: Scenario, *args: str) -> str:
    """A git command on the served bare repository."""
    return run_git(list(args), scenario.repo.path)


def catch_up(scenario: Scenario) -> None:
    """Bring the working copy up to what the automation pushed."""
    run_git(["pull", "--quiet", "--rebase", "origin", "main"], scenario.work.path)


async def test_a_marked_image_is_rewritten_committed_and_pushed_once(
    engine: Engine, scenario: Scenario
) -> None:
    ns = scenario.namespace
    scenario.commit(
        {"apps/web.yaml": marked_deployment(ns, "web"), "apps/notes.yaml": "kind: Notes\n"}
    )
    before = git(scenario, "rev-parse", "main").strip()
    await scenario.source(interval="1h")
    await elected_policy(scenario, "web", "1.28")
    ref = await automation(scenario, interval="2s")

    done = await pushed(scenario, ref)

    status = done["status"]
    commit = status["lastPushCommit"]
    assert git(scenario, "rev-parse", "main").strip() == commit
    assert git(scenario, "rev-parse", "main~1").strip() == before
    assert git(scenario, "show", "main:apps/web.yaml") == marked_deployment(ns, "web", "1.28")
    assert git(scenario, "show", "main:apps/notes.yaml") == "kind: Notes\n"
    people = git(scenario, "log", "-1", "--format=%an <%ae>|%cn <%ce>", "main").strip()
    assert people == "Flux Bot <flux@lockstep.invalid>|Flux Bot <flux@lockstep.invalid>"
    message = git(scenario, "log", "-1", "--format=%B", "main")
    assert message.startswith("Automated image update\n\n")
    assert f"Automation name: {ns}/bump" in message
    assert "- web.yaml" in message
    assert "- Deployment web" in message
    assert "nginx:1.27 -> nginx:1.28" in message
    assert status["observedSourceRevision"] == f"main@sha1:{commit}"
    assert status["observedPolicies"] == {"web": {"name": "nginx", "tag": "1.28"}}
    assert status["lastPushTime"]
    assert status["lastAutomationRunTime"]
    assert condition(done, "Ready") == "True: repository up-to-date"
    events = await scenario.kubectl("get", "events", "-o", "jsonpath={.items[*].message}")
    assert f"pushed commit '{commit[:7]}' to branch 'main'" in events

    again = await request_run(scenario, ref)
    later = await eventually(
        lambda: scenario.kube.get(ref),
        lambda o: o["status"]["lastAutomationRunTime"] > again["status"]["lastAutomationRunTime"],
        within=30,
        what="a run at the interval",
    )

    assert git(scenario, "rev-parse", "main").strip() == commit, "no change, no commit"
    for run in (again, later):
        assert run["status"]["lastPushCommit"] == commit
        assert condition(run, "Ready") == "True: repository up-to-date"


async def test_a_marker_naming_a_missing_policy_is_reported_and_its_file_left_alone(
    engine: Engine, scenario: Scenario
) -> None:
    ns = scenario.namespace
    broken = marked_deployment(ns, "typo")
    scenario.commit({"apps/web.yaml": marked_deployment(ns, "web"), "apps/broken.yaml": broken})
    await scenario.source(interval="1h")
    await elected_policy(scenario, "web", "1.28")
    ref = await automation(scenario)

    failed = await eventually(
        lambda: scenario.kube.get(ref),
        lambda o: condition(o, "Ready").startswith("False"),
        within=60,
        what="the automation Ready=False",
    )

    ready = next(c for c in failed["status"]["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "UpdateFailed"
    assert f"apps/broken.yaml:10: marker names ImagePolicy {ns}/typo" in ready["message"]
    assert "\n" not in ready["message"]
    assert git(scenario, "show", "main:apps/broken.yaml") == broken
    assert git(scenario, "show", "main:apps/web.yaml") == marked_deployment(ns, "web", "1.28"), (
        "the files whose markers apply are still updated"
    )


async def test_commits_go_to_the_push_branch_with_push_options_and_build_on_it(
    engine: Engine, scenario: Scenario
) -> None:
    ns = scenario.namespace
    scenario.commit({"apps/web.yaml": marked_deployment(ns, "web")})
    main = git(scenario, "rev-parse", "main").strip()
    received = scenario.repo.path / "push-options.txt"
    git(scenario, "config", "receive.advertisePushOptions", "true")
    hook = scenario.repo.path / "hooks" / "pre-receive"
    hook.write_text(f'#!/bin/sh\necho "$GIT_PUSH_OPTION_0" >> {received}\n')
    hook.chmod(0o755)
    await scenario.source(interval="1h")
    await elected_policy(scenario, "web", "1.28")
    push = {"branch": "image-updates", "options": {"ci.skip": ""}}
    ref = await automation(scenario, push=push)

    first = await pushed(scenario, ref)

    assert received.read_text() == "ci.skip\n"
    commit = first["status"]["lastPushCommit"]
    assert git(scenario, "rev-parse", "image-updates").strip() == commit
    assert git(scenario, "rev-parse", "image-updates~1").strip() == main
    assert git(scenario, "rev-parse", "main").strip() == main
    assert first["status"]["observedSourceRevision"] == f"main@sha1:{main}"

    await elected_policy(scenario, "web", "1.29")
    second = await pushed(scenario, ref, previous=commit)

    assert git(scenario, "rev-parse", "image-updates~1").strip() == commit
    assert second["status"]["observedPolicies"]["web"]["tag"] == "1.29"
    assert git(scenario, "show", "image-updates:apps/web.yaml") == marked_deployment(
        ns, "web", "1.29"
    )


async def test_a_new_election_builds_on_commits_pushed_in_between(
    engine: Engine, scenario: Scenario
) -> None:
    ns = scenario.namespace
    scenario.commit({"apps/web.yaml": marked_deployment(ns, "web")})
    await scenario.source(interval="1h")
    await elected_policy(scenario, "web", "1.28")
    ref = await automation(scenario)
    first = (await pushed(scenario, ref))["status"]["lastPushCommit"]
    catch_up(scenario)
    scenario.commit({"apps/config.yaml": "kind: Settings\n"}, "by hand")
    by_hand = git(scenario, "rev-parse", "main").strip()

    await elected_policy(scenario, "web", "1.29")
    second = await pushed(scenario, ref, previous=first)

    assert git(scenario, "rev-parse", "main~1").strip() == by_hand
    assert git(scenario, "log", "--format=%s", "-3", "main").splitlines()[1:] == [
        "by hand",
        "Automated image update",
    ]
    assert git(scenario, "show", "main:apps/web.yaml") == marked_deployment(ns, "web", "1.29")
    assert second["status"]["observedSourceRevision"] == (
        f"main@sha1:{second['status']['lastPushCommit']}"
    )


def secret(scenario: Scenario, name: str, **data: bytes) -> KubeObject:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": scenario.namespace},
        "data": {key: base64.b64encode(value).decode() for key, value in data.items()},
    }


async def test_signed_commits_are_pushed_with_the_credentials_of_the_git_repository(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    private_git_repo: ServedRepo,
    git_server: GitServer,
    signing: GnuPG,
    tmp_path: Path,
    kubeconfig: Path,
) -> None:
    work = private_git_repo.working_copy(tmp_path / "work")
    scenario = Scenario(kube, namespace, private_git_repo, work, kubeconfig)
    scenario.commit({"apps/web.yaml": marked_deployment(namespace, "web")})
    login = git_server.credentials
    await kube.apply(
        secret(
            scenario,
            "git-login",
            username=login.username.encode(),
            password=login.password.encode(),
        )
    )
    alice_secret_key = gpg(
        signing.home, "--armor", "--export-secret-keys", signing.alice.fingerprint
    )
    await kube.apply(secret(scenario, "signing-key", **{"git.asc": alice_secret_key.encode()}))
    await kube.apply(
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": "repo", "namespace": namespace},
            "spec": {
                "interval": "1h",
                "url": private_git_repo.http_url,
                "ref": {"branch": "main"},
                "secretRef": {"name": "git-login"},
            },
        }
    )
    await elected_policy(scenario, "web", "1.28")
    ref = await automation(scenario, signing_key="signing-key")

    done = await pushed(scenario, ref)

    commit = done["status"]["lastPushCommit"]
    assert git(scenario, "show", "main:apps/web.yaml") == marked_deployment(
        namespace, "web", "1.28"
    )
    shown = git(scenario, "log", "-1", "--format=%G?|%GF", commit).strip()
    assert shown == f"G|{signing.alice.signing_key}", "a good signature by Alice's signing subkey"
