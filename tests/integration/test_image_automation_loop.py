"""The whole image-update loop on the test ground: tags pushed to the registry → an
ImageRepository scans them → an ImagePolicy elects one → an ImageUpdateAutomation commits
the marked Deployment manifest to Git → a Kustomization applies it → the Deployment runs
the elected image. Pushing a newer tag within the range repeats the loop; a tag outside
it changes nothing, in Git or in the cluster.

The ImageRepository and the first ImagePolicy are Flux's manifests as users write them
(v1beta2, 5m interval), with the image pointed at the local registry. That policy's range
``^1.2.x`` keeps the major version only, as in Flux (Masterminds semver), so over 1.2.1,
1.2.2 and 1.3.0 it elects 1.3.0; the loop itself follows a patch-level policy, ``~1.2``,
which elects 1.2.2 and then 1.2.3. Scans are asked for with ``lockstep reconcile image
repository``, as an operator (or a registry webhook Receiver) would, so the 5m interval
never has to pass.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
import yaml

from ground.artifacts import condition
from ground.engine import Engine, lockstep_command
from ground.gitops import Scenario
from ground.images import ACCEPTANCE_REPOSITORY, acceptance_manifests, push_tags
from ground.wait import eventually
from lockstep.dev.gitserver import run_git
from lockstep.dev.registry import OciRegistry
from lockstep.kube import KubeObject, ObjectRef

pytestmark = pytest.mark.integration

IMAGE_API = "image.toolkit.fluxcd.io/v1beta2"

PATCH_POLICY = """\
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata: {name: payment-service-patches, namespace: flux-system}
spec:
  imageRepositoryRef: {name: payment-service}
  policy: {semver: {range: '~1.2'}}
"""

AUTOMATION = """\
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageUpdateAutomation
metadata: {name: payment-service, namespace: flux-system}
spec:
  interval: 5m
  sourceRef: {kind: GitRepository, name: repo}
  git:
    checkout: {ref: {branch: main}}
    commit:
      author: {name: fluxcdbot, email: fluxcdbot@users.noreply.github.com}
      messageTemplate: |
        Automated image update by {{ .AutomationObject }}
        {{ range .Changed.Changes }}
        - {{ .OldValue }} -> {{ .NewValue }}
        {{- end }}
    push: {branch: main}
  update: {path: ./deploy, strategy: Setters}
"""

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: payment-api
spec:
  replicas: 0
  selector: {{matchLabels: {{app: payment-api}}}}
  template:
    metadata: {{labels: {{app: payment-api}}}}
    spec:
      containers:
        - name: api
          # the marker keeps this image current with the patch-level policy
          image: {image}:1.2.1 # {{"$imagepolicy": "{namespace}:payment-service-patches"}}
"""


def _ours(manifest: str, namespace: str) -> KubeObject:
    loaded: KubeObject = yaml.safe_load(manifest.replace("flux-system", namespace))
    return loaded


async def _lockstep(kubeconfig: Path, *args: str) -> str:
    done = await asyncio.to_thread(
        subprocess.run,
        lockstep_command(kubeconfig, *args),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"lockstep {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


async def _latest_image(scenario: Scenario, policy: str, expected: str) -> KubeObject:
    ref = ObjectRef(IMAGE_API, "ImagePolicy", policy, scenario.namespace)
    return await eventually(
        lambda: scenario.kube.get(ref),
        lambda o: (o.get("status") or {}).get("latestImage", "").endswith(f":{expected}"),
        within=60,
        what=f"ImagePolicy {policy} elects {expected}",
    )


async def _running(scenario: Scenario, image: str) -> KubeObject:
    ref = ObjectRef("apps/v1", "Deployment", "payment-api", scenario.namespace)
    return await eventually(
        lambda: scenario.get(ref),
        lambda o: (
            o is not None
            and o["spec"]["template"]["spec"]["containers"][0]["image"] == image
            and condition(o, "Available").startswith("True")
        ),
        within=90,
        what=f"Deployment payment-api runs {image}",
    )


def _commits(scenario: Scenario) -> list[str]:
    """Subjects of the commits on the served repository's main branch, newest first."""
    log = run_git(["log", "--format=%an <%ae>|%s", "main"], cwd=scenario.repo.path)
    return log.splitlines()


async def test_tags_to_running_deployment(
    engine: Engine, scenario: Scenario, registry: OciRegistry
) -> None:
    namespace = scenario.namespace
    image = f"{registry.host}/{ACCEPTANCE_REPOSITORY}"
    push_tags(registry, ACCEPTANCE_REPOSITORY, "1.2.1", "1.2.2", "1.3.0")
    scenario.commit(
        {
            "deploy/deployment.yaml": DEPLOYMENT.format(image=image, namespace=namespace),
            "deploy/kustomization.yaml": "resources: [deployment.yaml]\n",
        },
        "payment-api at 1.2.1",
    )
    await scenario.source(interval="1s")
    await scenario.kustomization("payment-api", "./deploy", interval="1m")
    await _running(scenario, f"{image}:1.2.1")

    for manifest in [
        *acceptance_manifests(namespace, registry.host),
        _ours(PATCH_POLICY, namespace),
    ]:
        await scenario.kube.apply(manifest)
    # Flux's semantics: a caret range keeps the major version, so 1.3.0 is in ^1.2.x.
    flux_policy = await _latest_image(scenario, "payment-service-policy", "1.3.0")
    assert flux_policy["status"]["latestRef"] == {"name": image, "tag": "1.3.0"}
    await _latest_image(scenario, "payment-service-patches", "1.2.2")

    await scenario.kube.apply(_ours(AUTOMATION, namespace))
    await _running(scenario, f"{image}:1.2.2")
    history = _commits(scenario)
    assert history[0].startswith(
        f"fluxcdbot <fluxcdbot@users.noreply.github.com>|Automated image update by {namespace}/payment-service"
    )
    pushed = run_git(["show", "main:deploy/deployment.yaml"], cwd=scenario.repo.path)
    assert pushed == DEPLOYMENT.format(image=image, namespace=namespace).replace(
        f"{image}:1.2.1", f"{image}:1.2.2"
    ), "only the marked value changes; the comment above it and the marker stay"

    push_tags(registry, ACCEPTANCE_REPOSITORY, "1.2.3")
    await _lockstep(
        scenario.kubeconfig, "reconcile", "image", "repository", "payment-service", "-n", namespace
    )
    await _latest_image(scenario, "payment-service-patches", "1.2.3")
    await _running(scenario, f"{image}:1.2.3")
    assert len(_commits(scenario)) == len(history) + 1

    push_tags(registry, ACCEPTANCE_REPOSITORY, "2.0.0")
    scanned = await _lockstep(
        scenario.kubeconfig, "reconcile", "image", "repository", "payment-service", "-n", namespace
    )
    assert "5 tags" in scanned
    updated = await _lockstep(
        scenario.kubeconfig, "reconcile", "image", "update", "payment-service", "-n", namespace
    )
    assert "up-to-date" in updated
    assert len(_commits(scenario)) == len(history) + 1, "2.0.0 is outside both ranges: no commit"
    await _latest_image(scenario, "payment-service-patches", "1.2.3")
    await _latest_image(scenario, "payment-service-policy", "1.3.0")
    await _running(scenario, f"{image}:1.2.3")
