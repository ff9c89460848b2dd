"""Helm hooks and tests run by lockstep (:mod:`lockstep.controllers.helm.hooks`) on the
real control plane, as Helm v4 runs them: pre-install before the release's objects and
post-install after, by weight then name; ``before-hook-creation`` (the default)
replacing the object left by the last run; ``hook-succeeded`` and ``hook-failed``
deleting after the outcome; a failed Job and a timeout named in one line; tests chosen
by Flux's filters and reported per test; post-renderers patching the hooks too, run as
hooks, unless ``postRenderStrategy: nohooks``. Two golden comparisons with the real helm
(``helm install`` and ``helm test --filter``, then a failing ``helm install``) check
the hooks' records (phase, delete policies, times recorded) and what is left in the
namespace, in creation order, against lockstep's run of the same chart.

Where hooks run: the ground runs kube-controller-manager and kwok's simulated node
(:mod:`lockstep.dev.cluster`), so a Job's Pod is scheduled, kwok completes it (its
``pod-complete`` stage completes Pods owned by Jobs) and the Job controller marks the
Job Complete: Job hooks succeed for real. A Job fails for real when its Pod cannot be
scheduled and its ``activeDeadlineSeconds`` passes. A bare Pod is made Running by kwok
and never ends by itself, so the tests end hook Pods as a kubelet would: they write
``Succeeded`` or ``Failed`` through the Pod's status subresource once it runs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from ground.charts import Chart, Helm, hook
from lockstep.api.helm import PostRenderer, ReleaseTestFilter
from lockstep.apply import ApplyOptions, Owner, apply_all, helm_release_owner
from lockstep.controllers.helm.hooks import (
    HookFailed,
    run_hooks,
    run_tests,
)
from lockstep.controllers.helm.rendering import ReleaseRenderFailed, render_release
from lockstep.controllers.helm.storage import ReleaseStorage, hook_record
from lockstep.kube import KubeClient, KubeObject, NotFound, ObjectRef
from lockstep.render.helm import Hook, ReleaseContext, RenderOptions, shared_helm_renderer

TIMEOUT = 60.0


def owner(namespace: str) -> Owner:
    return helm_release_owner("web", namespace, "web", namespace)


def config_map(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}


def pod(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "test", "image": "busybox"}],
        },
    }


def job(name: str, **spec: Any) -> dict[str, Any]:
    template_spec = {
        "restartPolicy": "Never",
        "containers": [{"name": "run", "image": "busybox"}],
        **spec.pop("pod", {}),
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {"backoffLimit": 0, **spec, "template": {"spec": template_spec}},
    }


def make_hook(
    manifest: Mapping[str, Any],
    events: Sequence[str],
    *,
    weight: int = 0,
    policies: Sequence[str] = (),
) -> Hook:
    name = manifest["metadata"]["name"]
    return Hook(
        name=name,
        kind=manifest["kind"],
        path=f"web/templates/{name}.yaml",
        manifest=yaml.safe_dump(dict(manifest)),
        events=tuple(events),
        weight=weight,
        delete_policies=tuple(policies),
        output_log_policies=(),
    )


async def exists(kube: KubeClient, ref: ObjectRef) -> KubeObject | None:
    try:
        return await kube.get(ref)
    except NotFound:
        return None


async def end_pod_when_running(kube: KubeClient, namespace: str, name: str, phase: str) -> None:
    """Write ``phase`` to the Pod's status once kwok has made it Running, as its kubelet
    would when its containers exit."""
    ref = ObjectRef("v1", "Pod", name, namespace)
    while True:
        live = await exists(kube, ref)
        if live is not None and (live.get("status") or {}).get("phase") == "Running":
            break
        await asyncio.sleep(0.1)
    await kube.apply_status(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace},
            "status": {"phase": phase},
        }
    )


def by_name(records: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    return {record["name"]: record for record in records}


async def test_hooks_run_around_the_release_by_weight_then_name(
    kube: KubeClient, namespace: str, tmp_path: Path
) -> None:
    chart = Chart(
        "web",
        "1.0.0",
        templates={
            "app.yaml": yaml.safe_dump(config_map("app")),
            "late.yaml": hook(config_map("late"), ["pre-install"], 5),
            "middle-b.yaml": hook(config_map("middle-b"), ["pre-install"], 0),
            "middle-a.yaml": hook(config_map("middle-a"), ["pre-install"], 0),
            "early.yaml": hook(config_map("early"), ["pre-install"], -5),
            "after.yaml": hook(config_map("after"), ["post-install"], 0),
        },
    )
    archive = tmp_path / chart.filename
    archive.write_bytes(chart.package())
    rendered = await asyncio.to_thread(
        shared_helm_renderer().render,
        archive,
        {},
        ReleaseContext("web", namespace),
        deadline=time.monotonic() + 60,
    )
    records = [hook_record(h) for h in rendered.hooks]
    hooked = {"namespace": namespace, "owner": owner(namespace), "timeout": TIMEOUT}

    await run_hooks(kube, rendered.hooks, "pre-install", records=records, **hooked)
    app = yaml.safe_load(rendered.manifest)
    app["metadata"]["namespace"] = namespace
    await apply_all(kube, [app], ApplyOptions(owner=owner(namespace)))
    await run_hooks(kube, rendered.hooks, "post-install", records=records, **hooked)

    names = ["early", "middle-a", "middle-b", "late", "app", "after"]
    created = {}
    for name in names:
        live = await kube.get(ObjectRef("v1", "ConfigMap", name, namespace))
        created[name] = int(live["metadata"]["resourceVersion"])
        assert live["metadata"]["labels"]["helm.toolkit.fluxcd.io/name"] == "web"
    assert sorted(names, key=created.__getitem__) == names
    recorded = by_name(records)
    for name in ["early", "middle-a", "middle-b", "late", "after"]:
        last_run = recorded[name]["last_run"]
        assert last_run["phase"] == "Succeeded"
        assert last_run["started_at"] <= last_run["completed_at"]
        assert recorded[name]["delete_policies"] == ["before-hook-creation"]


async def test_before_hook_creation_replaces_the_object_of_the_last_run(
    kube: KubeClient, namespace: str
) -> None:
    old = await kube.apply(
        {**config_map("seed"), "metadata": {"name": "seed", "namespace": namespace}}
    )
    hooks = [make_hook(config_map("seed"), ["pre-upgrade"])]
    records = [hook_record(h) for h in hooks]

    await run_hooks(
        kube,
        hooks,
        "pre-upgrade",
        namespace=namespace,
        owner=owner(namespace),
        timeout=TIMEOUT,
        records=records,
    )

    new = await kube.get(ObjectRef("v1", "ConfigMap", "seed", namespace))
    assert new["metadata"]["uid"] != old["metadata"]["uid"]


async def test_a_job_hook_completes_and_hook_succeeded_deletes_it(
    kube: KubeClient, namespace: str
) -> None:
    hooks = [
        make_hook(job("migrate"), ["pre-install"], policies=["hook-succeeded"]),
        make_hook(config_map("kept"), ["pre-install"], weight=1),
    ]
    records = [hook_record(h) for h in hooks]

    await run_hooks(
        kube,
        hooks,
        "pre-install",
        namespace=namespace,
        owner=owner(namespace),
        timeout=TIMEOUT,
        records=records,
    )

    assert await exists(kube, ObjectRef("batch/v1", "Job", "migrate", namespace)) is None
    assert await exists(kube, ObjectRef("v1", "ConfigMap", "kept", namespace)) is not None
    recorded = by_name(records)
    assert recorded["migrate"]["last_run"]["phase"] == "Succeeded"
    assert recorded["migrate"]["delete_policies"] == ["hook-succeeded"]


async def test_a_failed_job_names_the_hook_and_hook_failed_deletes_it(
    kube: KubeClient, namespace: str
) -> None:
    never_scheduled = {"nodeSelector": {"lockstep.test/no-such-node": "true"}}
    hooks = [
        make_hook(config_map("ready"), ["pre-install"], weight=-1, policies=["hook-succeeded"]),
        make_hook(
            job("migrate", activeDeadlineSeconds=1, pod=never_scheduled),
            ["pre-install"],
            policies=["hook-failed"],
        ),
        make_hook(config_map("never"), ["pre-install"], weight=1),
    ]
    records = [hook_record(h) for h in hooks]

    with pytest.raises(HookFailed) as failed:
        await run_hooks(
            kube,
            hooks,
            "pre-install",
            namespace=namespace,
            owner=owner(namespace),
            timeout=TIMEOUT,
            records=records,
        )

    message = str(failed.value)
    assert message.startswith(
        "pre-install hook Job/migrate failed: Job failed (DeadlineExceeded): "
    )
    assert "\n" not in message
    assert failed.value.hook.name == "migrate"
    for ref in (
        ObjectRef("batch/v1", "Job", "migrate", namespace),
        ObjectRef("v1", "ConfigMap", "ready", namespace),
        ObjectRef("v1", "ConfigMap", "never", namespace),
    ):
        assert await exists(kube, ref) is None, ref
    recorded = by_name(records)
    assert recorded["ready"]["last_run"]["phase"] == "Succeeded"
    assert recorded["migrate"]["last_run"]["phase"] == "Failed"
    assert recorded["never"]["last_run"] == {"phase": ""}


async def test_a_hook_that_does_not_complete_in_time_fails(
    kube: KubeClient, namespace: str
) -> None:
    hooks = [make_hook(pod("wait"), ["post-upgrade"])]
    records = [hook_record(h) for h in hooks]
    started = time.monotonic()

    with pytest.raises(HookFailed) as failed:
        await run_hooks(
            kube,
            hooks,
            "post-upgrade",
            namespace=namespace,
            owner=owner(namespace),
            timeout=1.0,
            records=records,
        )

    assert str(failed.value) == "post-upgrade hook Pod/wait failed: did not complete within 1s"
    assert time.monotonic() - started < 10
    assert records[0]["last_run"]["phase"] == "Failed"
    assert await exists(kube, ObjectRef("v1", "Pod", "wait", namespace)) is not None


async def test_a_pod_hook_waits_for_its_pod_to_succeed(kube: KubeClient, namespace: str) -> None:
    hooks = [make_hook(pod("check"), ["post-install"], policies=["hook-succeeded"])]
    records = [hook_record(h) for h in hooks]
    ending = asyncio.create_task(end_pod_when_running(kube, namespace, "check", "Succeeded"))

    await run_hooks(
        kube,
        hooks,
        "post-install",
        namespace=namespace,
        owner=owner(namespace),
        timeout=TIMEOUT,
        records=records,
    )

    await ending
    assert records[0]["last_run"]["phase"] == "Succeeded"
    assert await exists(kube, ObjectRef("v1", "Pod", "check", namespace)) is None


async def test_tests_run_as_the_filters_say_and_report_each(
    kube: KubeClient, namespace: str
) -> None:
    hooks = [
        make_hook(pod("smoke"), ["test"], weight=0),
        make_hook(pod("e2e"), ["test"], weight=1),
        make_hook(pod("load"), ["test"], weight=-1),
        make_hook(config_map("not-a-test"), ["post-install"]),
    ]
    records = [hook_record(h) for h in hooks]
    ending = [
        asyncio.create_task(end_pod_when_running(kube, namespace, "smoke", "Succeeded")),
        asyncio.create_task(end_pod_when_running(kube, namespace, "e2e", "Failed")),
    ]

    result = await run_tests(
        kube,
        hooks,
        namespace=namespace,
        owner=owner(namespace),
        timeout=TIMEOUT,
        records=records,
        filters=[ReleaseTestFilter(name="load", exclude=True)],
    )

    await asyncio.gather(*ending)
    assert not result.succeeded
    assert result.passed == ["smoke"]
    assert result.failed == ["e2e"]
    assert result.skipped == ("load",)
    assert result.failure == "test hook Pod/e2e failed: Pod failed"
    test_hooks = result.test_hooks()
    assert sorted(test_hooks) == ["e2e", "smoke"]
    assert test_hooks["smoke"].phase == "Succeeded"
    assert test_hooks["e2e"].last_completed is not None
    assert await exists(kube, ObjectRef("v1", "Pod", "load", namespace)) is None
    assert by_name(records)["load"]["last_run"] == {"phase": ""}


async def test_a_named_test_runs_alone(kube: KubeClient, namespace: str) -> None:
    hooks = [make_hook(config_map("one"), ["test"]), make_hook(config_map("two"), ["test"])]
    records = [hook_record(h) for h in hooks]

    result = await run_tests(
        kube,
        hooks,
        namespace=namespace,
        owner=owner(namespace),
        timeout=TIMEOUT,
        records=records,
        filters=[ReleaseTestFilter(name="two")],
    )

    assert result.succeeded
    assert result.passed == ["two"]
    assert result.skipped == ("one",)
    assert await exists(kube, ObjectRef("v1", "ConfigMap", "one", namespace)) is None


async def test_a_hook_the_api_server_refuses_deletes_nothing(
    kube: KubeClient, namespace: str
) -> None:
    no_containers = {**pod("broken"), "spec": {"containers": []}}
    hooks = [
        make_hook(config_map("first"), ["pre-install"], weight=-1, policies=["hook-succeeded"]),
        make_hook(no_containers, ["pre-install"], policies=["hook-failed"]),
    ]
    records = [hook_record(h) for h in hooks]

    with pytest.raises(HookFailed) as failed:
        await run_hooks(
            kube,
            hooks,
            "pre-install",
            namespace=namespace,
            owner=owner(namespace),
            timeout=TIMEOUT,
            records=records,
        )

    assert str(failed.value).startswith(
        f"pre-install hook Pod/broken failed: Pod/{namespace}/broken"
    )
    assert "spec.containers" in str(failed.value)
    assert await exists(kube, ObjectRef("v1", "ConfigMap", "first", namespace)) is not None
    assert by_name(records)["broken"]["last_run"]["phase"] == "Failed"


async def test_a_hook_deleted_while_it_runs_fails(kube: KubeClient, namespace: str) -> None:
    hooks = [make_hook(pod("doomed"), ["pre-delete"])]
    records = [hook_record(h) for h in hooks]

    async def delete_when_running() -> None:
        await end_pod_when_running(kube, namespace, "doomed", "Running")
        await kube.delete(ObjectRef("v1", "Pod", "doomed", namespace))

    deleting = asyncio.create_task(delete_when_running())
    with pytest.raises(HookFailed) as failed:
        await run_hooks(
            kube,
            hooks,
            "pre-delete",
            namespace=namespace,
            owner=owner(namespace),
            timeout=TIMEOUT,
            records=records,
        )

    await deleting
    assert str(failed.value) == (
        "pre-delete hook Pod/doomed failed: it was deleted before it completed"
    )


def with_policy(manifest: dict[str, Any], *policies: str) -> dict[str, Any]:
    annotations = {"helm.sh/hook-delete-policy": ",".join(policies)}
    return {**manifest, "metadata": {**manifest["metadata"], "annotations": annotations}}


GOLDEN = Chart(
    "web",
    "1.0.0",
    templates={
        "app.yaml": yaml.safe_dump(config_map("app")),
        "early.yaml": hook(with_policy(config_map("early"), "hook-succeeded"), ["pre-install"], -5),
        "middle-b.yaml": hook(config_map("middle-b"), ["pre-install"], 0),
        "middle-a.yaml": hook(config_map("middle-a"), ["pre-install"], 0),
        "late.yaml": hook(
            with_policy(config_map("late"), "before-hook-creation"), ["pre-install"], 5
        ),
        "after.yaml": hook(job("after"), ["post-install"], 0),
        "after-cm.yaml": hook(
            with_policy(config_map("after-cm"), "hook-succeeded"), ["post-install"], 1
        ),
        "smoke.yaml": hook(job("smoke"), ["test"], 0),
        "load.yaml": hook(job("load"), ["test"], 1),
    },
)


async def left_behind(kube: KubeClient, namespace: str) -> tuple[list[str], list[str]]:
    """The ConfigMaps in ``namespace`` in the order they were created (none is changed
    after), and the Jobs (changed as they run, so only their names)."""
    config_maps = await kube.list("v1", "ConfigMap", namespace=namespace)
    made = sorted(
        (int(obj["metadata"]["resourceVersion"]), obj["metadata"]["name"])
        for obj in config_maps
        if obj["metadata"]["name"] != "kube-root-ca.crt"
    )
    jobs = await kube.list("batch/v1", "Job", namespace=namespace)
    return [name for _, name in made], sorted(job["metadata"]["name"] for job in jobs)


def runs(records: Sequence[Mapping[str, Any]]) -> dict[str, tuple[str, list[str], list[str]]]:
    """Each hook's phase, delete policies and the times its last run recorded."""
    return {
        record["name"]: (
            record["last_run"]["phase"],
            record.get("delete_policies", []),
            sorted(key for key in record["last_run"] if key != "phase"),
        )
        for record in records
    }


async def test_hooks_and_tests_run_as_helm_runs_them(
    kube: KubeClient, namespace: str, helm: Helm, tmp_path: Path
) -> None:
    archive = tmp_path / GOLDEN.filename
    archive.write_bytes(GOLDEN.package())
    await asyncio.to_thread(helm.run, "install", "web", str(archive), "-n", namespace)
    await asyncio.to_thread(helm.run, "test", "web", "-n", namespace, "--filter", "!name=load")
    by_helm = await ReleaseStorage(kube, namespace).last("web")
    assert by_helm is not None

    ours = f"{namespace}-lockstep"
    await kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ours}})
    try:
        rendered = await asyncio.to_thread(
            shared_helm_renderer().render,
            archive,
            {},
            ReleaseContext("web", ours),
            deadline=time.monotonic() + 60,
        )
        records = [hook_record(h) for h in rendered.hooks]
        hooked = {"namespace": ours, "owner": owner(ours), "timeout": TIMEOUT, "records": records}
        await run_hooks(kube, rendered.hooks, "pre-install", **hooked)
        app = {**config_map("app"), "metadata": {"name": "app", "namespace": ours}}
        await apply_all(kube, [app], ApplyOptions(owner=owner(ours)))
        await run_hooks(kube, rendered.hooks, "post-install", **hooked)
        result = await run_tests(
            kube, rendered.hooks, filters=[ReleaseTestFilter(name="load", exclude=True)], **hooked
        )

        assert result.passed == ["smoke"]
        assert runs(records) == runs(by_helm.hooks)
        assert await left_behind(kube, ours) == await left_behind(kube, namespace)
    finally:
        await kube.delete(ObjectRef("v1", "Namespace", ours))


FAILING = Chart(
    "web",
    "1.0.0",
    templates={
        "app.yaml": yaml.safe_dump(config_map("app")),
        "ready.yaml": hook(with_policy(config_map("ready"), "hook-succeeded"), ["pre-install"], -1),
        "migrate.yaml": hook(
            with_policy(
                job(
                    "migrate",
                    activeDeadlineSeconds=1,
                    pod={"nodeSelector": {"lockstep.test/no-such-node": "true"}},
                ),
                "hook-failed",
            ),
            ["pre-install"],
            0,
        ),
        "never.yaml": hook(config_map("never"), ["pre-install"], 1),
    },
)


async def test_a_failing_hook_stops_and_cleans_up_as_helm_does(
    kube: KubeClient, namespace: str, helm: Helm, tmp_path: Path
) -> None:
    archive = tmp_path / FAILING.filename
    archive.write_bytes(FAILING.package())
    done = await asyncio.to_thread(helm.attempt, "install", "web", str(archive), "-n", namespace)
    assert done.returncode != 0
    by_helm = await ReleaseStorage(kube, namespace).last("web")
    assert by_helm is not None

    ours = f"{namespace}-lockstep"
    await kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ours}})
    try:
        rendered = await asyncio.to_thread(
            shared_helm_renderer().render,
            archive,
            {},
            ReleaseContext("web", ours),
            deadline=time.monotonic() + 60,
        )
        records = [hook_record(h) for h in rendered.hooks]
        with pytest.raises(HookFailed, match=r"^pre-install hook Job/migrate failed: Job failed"):
            await run_hooks(
                kube,
                rendered.hooks,
                "pre-install",
                namespace=ours,
                owner=owner(ours),
                timeout=TIMEOUT,
                records=records,
            )

        assert runs(records) == runs(by_helm.hooks)
        assert await left_behind(kube, ours) == await left_behind(kube, namespace) == ([], [])
    finally:
        await kube.delete(ObjectRef("v1", "Namespace", ours))


LABEL_EVERY_CONFIG_MAP = PostRenderer.model_validate(
    {
        "kustomize": {
            "patches": [
                {
                    "target": {"kind": "ConfigMap"},
                    "patch": '[{"op": "add", "path": "/metadata/labels", "value": {"patched": "yes"}}]',
                }
            ]
        }
    }
)


def post_rendered_chart(tmp_path: Path) -> Path:
    """A chart of one object and two hooks from one template, packed."""
    hooks = hook(config_map("before"), ["pre-install"]) + "---\n"
    hooks += hook(config_map("after"), ["post-install"], 1)
    chart = Chart(
        "web",
        "1.0.0",
        templates={"app.yaml": yaml.safe_dump(config_map("app")), "hooks.yaml": hooks},
    )
    archive = tmp_path / chart.filename
    archive.write_bytes(chart.package())
    return archive


@pytest.mark.parametrize("strategy", [None, "combined", "separate"])
async def test_post_renderers_patch_the_hooks_which_run_as_hooks(
    kube: KubeClient, namespace: str, tmp_path: Path, strategy: str | None
) -> None:
    """Flux's default (``combined``, Helm 4's) and ``separate`` post-render the hooks:
    they keep their annotations and template, run on their events, and carry the patch."""
    release = await asyncio.to_thread(
        render_release,
        post_rendered_chart(tmp_path),
        {},
        ReleaseContext("web", namespace),
        RenderOptions(),
        [LABEL_EVERY_CONFIG_MAP],
        post_render_strategy=strategy,
    )
    rendered = release.rendered
    assert [(h.name, h.events, h.weight, h.path) for h in rendered.hooks] == [
        ("before", ("pre-install",), 0, "web/templates/hooks.yaml"),
        ("after", ("post-install",), 1, "web/templates/hooks.yaml"),
    ]
    assert rendered.manifest.startswith("---\n# Source: web/templates/app.yaml\n")
    assert "postrender-filename" not in rendered.manifest + str(rendered.hooks)
    assert [obj["metadata"]["labels"] for obj in release.objects] == [{"patched": "yes"}]

    records = [hook_record(h) for h in rendered.hooks]
    hooked = {"namespace": namespace, "owner": owner(namespace), "timeout": TIMEOUT}
    await run_hooks(kube, rendered.hooks, "pre-install", records=records, **hooked)
    await run_hooks(kube, rendered.hooks, "post-install", records=records, **hooked)
    for name in ("before", "after"):
        live = await kube.get(ObjectRef("v1", "ConfigMap", name, namespace))
        assert live["metadata"]["labels"]["patched"] == "yes", name
        assert "helm.sh/hook" in live["metadata"]["annotations"], name
        assert by_name(records)[name]["last_run"]["phase"] == "Succeeded"


async def test_nohooks_leaves_the_hooks_as_the_chart_wrote_them(tmp_path: Path) -> None:
    release = await asyncio.to_thread(
        render_release,
        post_rendered_chart(tmp_path),
        {},
        ReleaseContext("web", "default"),
        RenderOptions(),
        [LABEL_EVERY_CONFIG_MAP],
        post_render_strategy="nohooks",
    )
    assert [obj["metadata"]["labels"] for obj in release.objects] == [{"patched": "yes"}]
    for rendered_hook in release.rendered.hooks:
        assert "labels" not in yaml.safe_load(rendered_hook.manifest)["metadata"]


async def test_combined_refuses_a_hook_that_is_also_an_object(tmp_path: Path) -> None:
    """As in Helm 4: the one stream holds the same object twice, which Kustomize refuses;
    ``separate`` post-renders them apart."""
    chart = Chart(
        "web",
        "1.0.0",
        templates={
            "app.yaml": yaml.safe_dump(config_map("app")),
            "hook.yaml": hook(config_map("app"), ["pre-install"]),
        },
    )
    archive = tmp_path / chart.filename
    archive.write_bytes(chart.package())

    def rendered(strategy: str) -> Any:
        return render_release(
            archive,
            {},
            ReleaseContext("web", "default"),
            RenderOptions(),
            [LABEL_EVERY_CONFIG_MAP],
            post_render_strategy=strategy,
        )

    with pytest.raises(ReleaseRenderFailed) as refused:
        await asyncio.to_thread(rendered, "combined")
    assert refused.value.post_render
    assert "spec.postRenderers[0]" in str(refused.value)
    separate = await asyncio.to_thread(rendered, "separate")
    assert [h.name for h in separate.rendered.hooks] == ["app"]
    assert "patched" in separate.rendered.hooks[0].manifest
