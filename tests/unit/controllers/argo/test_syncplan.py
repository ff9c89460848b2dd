"""The sync plan of an Argo CD Application: options, hooks, waves, order, prune and delete."""

from __future__ import annotations

from typing import Any

import pytest

from lockstep.controllers.argo.syncplan import (
    HookDeletePolicy,
    HookType,
    PropagationPolicy,
    Removal,
    SyncOptions,
    SyncPhase,
    SyncPlan,
    SyncPlanError,
    desired_resources,
    hook_of,
    object_sync_options,
    parse_sync_options,
    plan_deletion,
    plan_sync,
    sync_wave,
)

API_VERSIONS = {
    "Deployment": "apps/v1",
    "StatefulSet": "apps/v1",
    "Job": "batch/v1",
    "Ingress": "networking.k8s.io/v1",
    "ClusterRole": "rbac.authorization.k8s.io/v1",
    "CustomResourceDefinition": "apiextensions.k8s.io/v1",
    "Widget": "example.com/v1",
    "Gadget": "example.com/v1",
}


def obj(kind: str, name: str, namespace: str = "prod", **annotations: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": API_VERSIONS.get(kind, "v1"), "kind": kind, "metadata": meta}


def wave(value: str) -> dict[str, str]:
    return {"argocd.argoproj.io/sync-wave": value}


def hook(value: str) -> dict[str, str]:
    return {"argocd.argoproj.io/hook": value}


def helm_hook(value: str) -> dict[str, str]:
    return {"helm.sh/hook": value}


def layout(plan: SyncPlan) -> list[tuple[str, int, list[str], list[str]]]:
    """Each step as (phase, wave, prunes, applies), objects as Kind/name."""
    return [
        (
            str(step.phase),
            step.wave,
            [f"{p.ref.kind}/{p.ref.name}" for p in step.prunes],
            [f"{a.ref.kind}/{a.ref.name}" for a in step.applies],
        )
        for step in plan.steps
    ]


def plan(
    desired: list[dict[str, Any]],
    prune: tuple[dict[str, Any], ...] = (),
    options: SyncOptions | None = None,
    *,
    prune_enabled: bool = True,
) -> SyncPlan:
    return plan_sync(desired, prune, options=options or SyncOptions(), prune_enabled=prune_enabled)


# --- the seeds' use case, waves and order -----------------------------------------


def test_presync_migration_job_runs_before_the_deployment() -> None:
    migrate = obj("Job", "db-migrate", **hook("PreSync"))
    result = plan([obj("Deployment", "web"), migrate])
    assert layout(result) == [
        ("PreSync", 0, [], ["Job/db-migrate"]),
        ("Sync", 0, [], ["Deployment/web"]),
    ]
    task = result.steps[0].applies[0]
    assert task.hook is not None
    assert task.hook.delete_policies == (HookDeletePolicy.BEFORE_HOOK_CREATION,)
    assert result.steps[1].applies[0].hook is None


def test_waves_in_order_then_kinds_then_names() -> None:
    result = plan(
        [
            obj("Deployment", "web", **wave("1")),
            obj("Widget", "a-widget"),
            obj("Deployment", "api"),
            obj("Service", "web"),
            obj("ConfigMap", "settings"),
            obj("Secret", "token", **wave("-1")),
            obj("Namespace", "other", namespace="", **wave("-1")),
        ]
    )
    assert layout(result) == [
        ("Sync", -1, [], ["Namespace/other", "Secret/token"]),
        ("Sync", 0, [], ["ConfigMap/settings", "Service/web", "Deployment/api", "Widget/a-widget"]),
        ("Sync", 1, [], ["Deployment/web"]),
    ]


def test_unknown_kinds_come_after_known_ones_tied_and_ordered_by_name() -> None:
    result = plan([obj("Widget", "zeta"), obj("Gadget", "alpha"), obj("APIService", "v1.x")])
    assert layout(result) == [("Sync", 0, [], ["APIService/v1.x", "Gadget/alpha", "Widget/zeta"])]


def test_hooks_follow_kind_order_too() -> None:
    result = plan(
        [obj("Job", "a-job", **hook("PreSync")), obj("ConfigMap", "z", **hook("PreSync"))]
    )
    assert layout(result) == [("PreSync", 0, [], ["ConfigMap/z", "Job/a-job"])]


def test_phases_run_presync_sync_postsync_whatever_the_waves() -> None:
    result = plan(
        [
            obj("Job", "notify", **hook("PostSync"), **wave("-5")),
            obj("Deployment", "web", **wave("3")),
            obj("Job", "migrate", **hook("PreSync"), **wave("7")),
        ]
    )
    assert [(step.phase, step.wave) for step in result.steps] == [
        (SyncPhase.PRE_SYNC, 7),
        (SyncPhase.SYNC, 3),
        (SyncPhase.POST_SYNC, -5),
    ]


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        ({}, 0),
        (wave("-2"), -2),
        (wave("+3"), 3),
        ({"helm.sh/hook-weight": "5"}, 5),
        ({**wave("1"), "helm.sh/hook-weight": "5"}, 1),
    ],
)
def test_sync_wave(annotations: dict[str, str], expected: int) -> None:
    assert sync_wave(obj("ConfigMap", "c", **annotations)) == expected


@pytest.mark.parametrize("value", ["one", "1.5", " 1", ""])
def test_a_bad_wave_names_the_object(value: str) -> None:
    with pytest.raises(SyncPlanError) as raised:
        plan([obj("Deployment", "web", **wave(value))])
    assert str(raised.value) == (
        f"Deployment/prod/web: annotation argocd.argoproj.io/sync-wave must be an integer, "
        f"got {value!r}; fix it in the manifest"
    )


def test_a_bad_helm_hook_weight_is_refused_too() -> None:
    with pytest.raises(SyncPlanError, match=r"Job/prod/m: annotation helm.sh/hook-weight"):
        sync_wave(obj("Job", "m", **{"helm.sh/hook-weight": "high"}))


def test_a_namespace_moves_before_the_first_object_in_it_into_its_phase() -> None:
    result = plan(
        [
            obj("Namespace", "shop", namespace=""),
            obj("Deployment", "web", namespace="shop"),
            obj("Job", "migrate", namespace="shop", **hook("PreSync"), **wave("-1")),
        ]
    )
    assert layout(result) == [
        ("PreSync", -1, [], ["Namespace/shop", "Job/migrate"]),
        ("Sync", 0, [], ["Deployment/web"]),
    ]


def test_a_crd_moves_before_its_first_custom_object() -> None:
    crd = obj("CustomResourceDefinition", "widgets.example.com", namespace="", **wave("2"))
    crd["spec"] = {"group": "example.com", "names": {"kind": "Widget"}}
    result = plan([crd, obj("Widget", "w", **wave("-1")), obj("Gadget", "g", **wave("-1"))])
    assert layout(result) == [
        ("Sync", -1, [], ["Gadget/g", "CustomResourceDefinition/widgets.example.com", "Widget/w"])
    ]


# --- hooks -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("helm", "types"),
    [
        ("pre-install", (HookType.PRE_SYNC,)),
        ("pre-upgrade", (HookType.PRE_SYNC,)),
        ("pre-install,pre-upgrade", (HookType.PRE_SYNC,)),
        ("post-install", (HookType.POST_SYNC,)),
        ("post-upgrade", (HookType.POST_SYNC,)),
        ("pre-delete", (HookType.PRE_DELETE,)),
        ("post-delete", (HookType.POST_DELETE,)),
        ("test", ()),
        ("test-success", ()),
        ("pre-rollback", ()),
    ],
)
def test_helm_hooks_map_onto_argo_hooks(helm: str, types: tuple[HookType, ...]) -> None:
    found = hook_of(obj("Job", "j", **helm_hook(helm)))
    assert found is not None
    assert found.types == types


def test_crd_install_is_an_ordinary_object() -> None:
    crd = obj("CustomResourceDefinition", "w.example.com", namespace="", **helm_hook("crd-install"))
    assert hook_of(crd) is None
    assert layout(plan([crd])) == [("Sync", 0, [], ["CustomResourceDefinition/w.example.com"])]


def test_argo_hook_wins_over_helm_hook() -> None:
    job = obj("Job", "j", **hook("PostSync"), **helm_hook("pre-install"))
    found = hook_of(job)
    assert found is not None
    assert found.types == (HookType.POST_SYNC,)
    assert layout(plan([job])) == [("PostSync", 0, [], ["Job/j"])]


def test_helm_hook_weight_orders_hooks_as_a_wave() -> None:
    result = plan(
        [
            obj("Job", "second", **helm_hook("pre-install"), **{"helm.sh/hook-weight": "5"}),
            obj("Job", "first", **helm_hook("pre-upgrade"), **{"helm.sh/hook-weight": "-5"}),
        ]
    )
    assert layout(result) == [
        ("PreSync", -5, [], ["Job/first"]),
        ("PreSync", 5, [], ["Job/second"]),
    ]


@pytest.mark.parametrize(
    ("annotations", "policies"),
    [
        ({}, (HookDeletePolicy.BEFORE_HOOK_CREATION,)),
        (
            {"argocd.argoproj.io/hook-delete-policy": "HookSucceeded, HookFailed"},
            (HookDeletePolicy.HOOK_SUCCEEDED, HookDeletePolicy.HOOK_FAILED),
        ),
        ({"helm.sh/hook-delete-policy": "hook-succeeded"}, (HookDeletePolicy.HOOK_SUCCEEDED,)),
        ({"helm.sh/hook-delete-policy": "hook-failed"}, (HookDeletePolicy.HOOK_FAILED,)),
        (
            {"helm.sh/hook-delete-policy": "before-hook-creation"},
            (HookDeletePolicy.BEFORE_HOOK_CREATION,),
        ),
        (
            {
                "argocd.argoproj.io/hook-delete-policy": "HookFailed",
                "helm.sh/hook-delete-policy": "hook-succeeded",
            },
            (HookDeletePolicy.HOOK_FAILED, HookDeletePolicy.HOOK_SUCCEEDED),
        ),
        (
            {"argocd.argoproj.io/hook-delete-policy": "Never"},
            (HookDeletePolicy.BEFORE_HOOK_CREATION,),
        ),
    ],
)
def test_hook_delete_policies(
    annotations: dict[str, str], policies: tuple[HookDeletePolicy, ...]
) -> None:
    found = hook_of(obj("Job", "j", **hook("PreSync"), **annotations))
    assert found is not None
    assert found.delete_policies == policies


def test_a_hook_of_several_phases_runs_in_each_named_per_phase() -> None:
    job = obj("Job", "", **hook("PostSync,PreSync"))
    job["metadata"]["generateName"] = "smoke-"
    result = plan_sync(
        [job],
        [],
        options=SyncOptions(),
        prune_enabled=True,
        revision="0123456789abcdef",
        started_at=1700000000,
    )
    assert layout(result) == [
        ("PreSync", 0, [], ["Job/smoke-0123456-presync-1700000000"]),
        ("PostSync", 0, [], ["Job/smoke-0123456-postsync-1700000000"]),
    ]
    assert job["metadata"]["name"] == "", "the rendered object is left as it was"


def test_a_short_revision_is_used_whole_in_a_generated_hook_name() -> None:
    job = obj("Job", "", **hook("Sync"))
    job["metadata"]["generateName"] = "x-"
    result = plan_sync(
        [job], [], options=SyncOptions(), prune_enabled=True, revision="abc", started_at=7
    )
    assert result.steps[0].applies[0].ref.name == "x-abc-sync-7"


def test_skip_objects_and_hooks_of_no_sync_phase_are_not_run() -> None:
    skipped = obj("ConfigMap", "manual", **hook("Skip"))
    helm_test = obj("Pod", "test-connection", **helm_hook("test"))
    pre_delete = obj("Job", "backup", **hook("PreDelete"))
    result = plan([skipped, helm_test, pre_delete, obj("ConfigMap", "kept")])
    assert layout(result) == [("Sync", 0, [], ["ConfigMap/kept"])]
    assert [ref.name for ref in result.not_run] == ["manual", "test-connection", "backup"]
    assert hook_of(skipped) is None
    assert hook_of(helm_test) is not None


def test_skip_with_another_type_is_a_hook_of_that_type() -> None:
    result = plan([obj("Job", "j", **hook("Skip,PreSync"))])
    assert layout(result) == [("PreSync", 0, [], ["Job/j"])]


def test_sync_fail_hooks_are_kept_apart() -> None:
    result = plan(
        [
            obj("Job", "cleanup", **hook("SyncFail")),
            obj("ConfigMap", "alert", **hook("SyncFail"), **wave("-1")),
            obj("Deployment", "web"),
        ]
    )
    assert layout(result) == [("Sync", 0, [], ["Deployment/web"])]
    assert [(t.ref.name, t.phase) for t in result.sync_fail] == [
        ("alert", SyncPhase.SYNC_FAIL),
        ("cleanup", SyncPhase.SYNC_FAIL),
    ]


def test_hooks_are_not_desired_state() -> None:
    web = obj("Deployment", "web")
    objects = [web, obj("Job", "m", **hook("PreSync")), obj("Pod", "t", **helm_hook("test"))]
    assert desired_resources(objects) == [web]


# --- sync options ----------------------------------------------------------------


def test_every_app_wide_option_parses() -> None:
    options = parse_sync_options(
        [
            "CreateNamespace=true",
            "ServerSideApply=true",
            "PruneLast=true",
            "ApplyOutOfSyncOnly=true",
            "Prune=confirm",
            "Delete=false",
            "Replace=true",
            "Force=true",
            "Validate=false",
            "PrunePropagationPolicy=orphan",
            "RespectIgnoreDifferences=true",
            "SkipDryRunOnMissingResource=true",
            "FailOnSharedResource=true",
        ]
    )
    assert options == SyncOptions(
        create_namespace=True,
        server_side_apply=True,
        prune_last=True,
        apply_out_of_sync_only=True,
        prune=Removal.CONFIRM,
        delete=Removal.DISABLED,
        replace=True,
        force=True,
        validate=False,
        prune_propagation_policy=PropagationPolicy.ORPHAN,
        respect_ignore_differences=True,
        skip_dry_run_on_missing_resource=True,
        fail_on_shared_resource=True,
    )


def test_defaults_are_argo_cds() -> None:
    options = parse_sync_options([])
    assert options.prune_propagation_policy == PropagationPolicy.FOREGROUND
    assert options.validate
    assert options.prune == Removal.ALLOWED
    assert options.delete == Removal.ALLOWED


def test_unknown_options_are_ignored_and_listed() -> None:
    options = parse_sync_options(["CreateNamespace=yes", "Bogus=1", " PruneLast=true "])
    assert options == SyncOptions(prune_last=True, unrecognized=("CreateNamespace=yes", "Bogus=1"))


def test_object_annotation_overrides_per_object_options_only() -> None:
    app = parse_sync_options(["ServerSideApply=true", "Prune=confirm", "Delete=false"])
    web = obj(
        "Deployment",
        "web",
        **{
            "argocd.argoproj.io/sync-options": (
                "ServerSideApply=false, Prune=false,Delete=true,Replace=true,"
                "CreateNamespace=true,Force=true,Validate=false,SkipDryRunOnMissingResource=true"
            )
        },
    )
    options = object_sync_options(app, web)
    assert not options.server_side_apply
    assert options.prune == Removal.DISABLED
    assert options.delete == Removal.ALLOWED
    assert options.replace
    assert options.force
    assert not options.validate
    assert options.skip_dry_run_on_missing_resource
    assert not options.create_namespace, "CreateNamespace is app-wide only"
    assert options.unrecognized == ("CreateNamespace=true",)
    assert object_sync_options(app, obj("Deployment", "api")) == app


def test_helm_keep_policy_is_delete_false() -> None:
    kept = obj("PersistentVolumeClaim", "data", **{"helm.sh/resource-policy": "keep"})
    assert object_sync_options(SyncOptions(), kept).delete == Removal.DISABLED


# --- prune -----------------------------------------------------------------------


def test_prunes_run_in_reverse_wave_order_first_in_their_step() -> None:
    result = plan(
        [obj("Deployment", "web", **wave("1")), obj("ConfigMap", "settings")],
        (
            obj("Secret", "old-early", **wave("-1")),
            obj("Service", "old-middle"),
            obj("Deployment", "old-late", **wave("1")),
        ),
    )
    assert layout(result) == [
        ("Sync", -1, ["Deployment/old-late"], []),
        ("Sync", 0, ["Service/old-middle"], ["ConfigMap/settings"]),
        ("Sync", 1, ["Secret/old-early"], ["Deployment/web"]),
    ]
    assert not result.prune_skipped


def test_prune_last_moves_prunes_after_the_last_sync_wave_before_postsync() -> None:
    result = plan(
        [
            obj("Deployment", "web", **wave("2")),
            obj("Job", "notify", **hook("PostSync")),
        ],
        (obj("Secret", "old"), obj("ConfigMap", "older", **wave("5"))),
        parse_sync_options(["PruneLast=true"]),
    )
    assert layout(result) == [
        ("Sync", 2, [], ["Deployment/web"]),
        ("Sync", 6, ["Secret/old", "ConfigMap/older"], []),
        ("PostSync", 0, [], ["Job/notify"]),
    ]


def test_prune_last_on_one_object_moves_it_after_the_waves_were_mirrored() -> None:
    # As in Argo CD: prune waves are mirrored first (-3 and 0 swap), then PruneLast moves.
    result = plan(
        [obj("ConfigMap", "a", **wave("-3"))],
        (
            obj("Secret", "last", **{"argocd.argoproj.io/sync-options": "PruneLast=true"}),
            obj("Secret", "now", **wave("-3")),
        ),
    )
    assert layout(result) == [
        ("Sync", -3, [], ["ConfigMap/a"]),
        ("Sync", 0, ["Secret/now"], []),
        ("Sync", 1, ["Secret/last"], []),
    ]


def test_prune_false_objects_are_never_pruned() -> None:
    keep = obj("Secret", "keep", **{"argocd.argoproj.io/sync-options": "Prune=false"})
    result = plan([], (keep, obj("Secret", "drop")))
    assert [(p.ref.name, p.skipped) for p in result.prune_skipped] == [
        ("keep", "ignored (no prune)")
    ]
    drop = next(p for p in result.steps[0].prunes if p.ref.name == "drop")
    assert drop.skipped == ""


def test_a_sync_without_prune_skips_every_prune() -> None:
    result = plan([], (obj("Secret", "a"),), prune_enabled=False)
    assert [p.skipped for p in result.prune_skipped] == ["ignored (requires pruning)"]


def test_app_wide_prune_false_can_be_lifted_per_object() -> None:
    lifted = obj("Secret", "go", **{"argocd.argoproj.io/sync-options": "Prune=true"})
    result = plan([], (lifted, obj("Secret", "stay")), parse_sync_options(["Prune=false"]))
    assert [p.ref.name for p in result.prune_skipped] == ["stay"]


def test_prune_confirm_is_marked() -> None:
    confirm = obj(
        "Namespace", "team", namespace="", **{"argocd.argoproj.io/sync-options": "Prune=confirm"}
    )
    result = plan([], (confirm, obj("Secret", "plain")))
    assert [p.ref.name for p in result.awaiting_confirmation] == ["team"]


def test_hooks_and_skip_objects_are_never_pruned() -> None:
    result = plan([], (obj("Job", "old-hook", **hook("PreSync")), obj("Pod", "s", **hook("Skip"))))
    assert result.steps == ()


# --- deletion --------------------------------------------------------------------


def test_deletion_runs_pre_delete_hooks_then_waves_backwards_then_post_delete() -> None:
    pre = obj("Job", "backup", **hook("PreDelete"))
    helm_pre = obj("Job", "drain", **helm_hook("pre-delete"), **{"helm.sh/hook-weight": "-1"})
    post = obj("Job", "notify", **helm_hook("post-delete"))
    crd = obj("CustomResourceDefinition", "widgets.example.com", namespace="")
    live = [
        obj("Namespace", "shop", namespace=""),
        obj("Deployment", "web"),
        obj("Service", "web"),
        obj("Widget", "w"),
        obj("ConfigMap", "early", **wave("-1")),
        obj("StatefulSet", "db", **wave("1")),
        obj("PersistentVolumeClaim", "data", **{"argocd.argoproj.io/sync-options": "Delete=false"}),
        obj("Secret", "keep", **{"helm.sh/resource-policy": "keep"}),
        crd,
        pre,
    ]
    result = plan_deletion(
        [pre, helm_pre, post, obj("Deployment", "web")], live, options=SyncOptions()
    )
    assert [o["metadata"]["name"] for o in result.pre_delete] == ["drain", "backup"]
    assert [o["metadata"]["name"] for o in result.post_delete] == ["notify"]
    assert [(s.wave, s.kind, [o["metadata"]["name"] for o in s.objects]) for s in result.steps] == [
        (1, "StatefulSet", ["db"]),
        (0, "Widget", ["w"]),
        (0, "Service", ["web"]),
        (0, "Deployment", ["web"]),
        (0, "Namespace", ["shop"]),
        (-1, "ConfigMap", ["early"]),
    ]
    assert [o["metadata"]["name"] for o in result.kept] == ["data", "keep", "widgets.example.com"]
    assert result.needs_confirmation == ()


def test_deletion_honours_app_wide_delete_options_and_confirmation() -> None:
    live = [
        obj("Secret", "a"),
        obj(
            "Namespace",
            "team",
            namespace="",
            **{"argocd.argoproj.io/sync-options": "Delete=confirm"},
        ),
    ]
    confirm = plan_deletion([], live, options=SyncOptions())
    assert [o["metadata"]["name"] for o in confirm.needs_confirmation] == ["team"]
    keep_all = plan_deletion([], live, options=parse_sync_options(["Delete=false"]))
    assert [(s.kind, [o["metadata"]["name"] for o in s.objects]) for s in keep_all.steps] == [
        ("Namespace", ["team"])
    ]
    assert [o["metadata"]["name"] for o in keep_all.kept] == ["a"]
    assert [o["metadata"]["name"] for o in keep_all.needs_confirmation] == ["team"]
