"""Custom health in Lua: argocd-cm's forms, the lookup, realistic scripts, the sandbox and its limits."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest

from lockstep.health import (
    ArgoHealth,
    ArgoHealthStatus,
    LuaHealthChecks,
    LuaHealthConfigError,
    LuaLimits,
    argo_health,
    parse_health_scripts,
    run_health_script,
)

from .objects import condition, kube_object

T = TypeVar("T")
HEALTHY = ArgoHealthStatus.HEALTHY
PROGRESSING = ArgoHealthStatus.PROGRESSING
DEGRADED = ArgoHealthStatus.DEGRADED
UNKNOWN = ArgoHealthStatus.UNKNOWN

CERTIFICATE_HEALTH = """
local hs = {status = "Progressing", message = "Waiting for the certificate to be issued"}
if obj.status == nil or obj.status.conditions == nil then
  return hs
end
for _, c in ipairs(obj.status.conditions) do
  if c.type == "Ready" and c.status == "True" then
    hs.status = "Healthy"
    hs.message = c.message
  elseif c.type == "Ready" and c.status == "False" and c.reason ~= "InProgress" then
    hs.status = "Degraded"
    hs.message = c.reason .. ": " .. c.message
  end
end
return hs
"""

# Counts ready replicas by walking a list, as scripts for operators' CRs often do.
REPLICAS_HEALTH = """
local ready = 0
for i = 1, #obj.status.members do
  if obj.status.members[i].ready then ready = ready + 1 end
end
local wanted = obj.spec.replicas or 1
if ready < wanted then
  return {status = "Progressing", message = string.format("%d/%d members ready", ready, wanted)}
end
return {status = "Healthy", message = table.concat({"all", tostring(ready), "ready"}, " ")}
"""


def certificate(*conditions: dict[str, str]) -> dict[str, Any]:
    return kube_object(
        "cert-manager.io/v1",
        "Certificate",
        "tls",
        spec={"secretName": "tls"},
        status={"conditions": list(conditions)},
    )


def run(source: str, obj: dict[str, Any] | None = None, **limits: Any) -> ArgoHealth:
    return run_health_script(
        source,
        obj if obj is not None else certificate(),
        name="cert-manager.io/Certificate",
        limits=LuaLimits(**limits),
    )


# argocd-cm's forms


def test_split_keys_name_group_and_kind_or_a_core_kind_alone() -> None:
    scripts = parse_health_scripts(
        {
            "resource.customizations.health.cert-manager.io_Certificate": "return 1",
            "resource.customizations.health.Pod": "return 2",
            "resource.customizations.health._Service": "return 3",
            "resource.customizations.health.all": "return 4",
            "resource.customizations.ignoreDifferences.apps_Deployment": "jsonPointers: [/spec]",
            "resource.customizations.useOpenLibs.cert-manager.io_Certificate": "true",
            "url": "https://argocd.example.com",
        }
    )
    assert scripts == {
        ("cert-manager.io", "Certificate"): "return 1",
        ("", "Pod"): "return 2",
        ("", "Service"): "return 3",
        ("*", "*"): "return 4",
    }


def test_older_yaml_form_is_read_and_the_split_key_wins_over_it() -> None:
    data = {
        "resource.customizations": """
cert-manager.io/Certificate:
  health.lua: |
    return "old"
  health.lua.useOpenLibs: true
Pod:
  health.lua: return "pod"
apps/Deployment:
  ignoreDifferences: |
    jsonPointers: [/spec/replicas]
""",
        "resource.customizations.health.cert-manager.io_Certificate": 'return "new"',
    }
    assert parse_health_scripts(data) == {
        ("cert-manager.io", "Certificate"): 'return "new"',
        ("", "Pod"): 'return "pod"',
    }


def test_empty_split_key_hides_the_older_form_script() -> None:
    data = {
        "resource.customizations": "Pod:\n  health.lua: return 1\n",
        "resource.customizations.health.Pod": "",
    }
    assert parse_health_scripts(data) == {}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"resource.customizations.health.a_b_C": "x"},
            "argocd-cm key 'resource.customizations.health.a_b_C': expected",
        ),
        (
            {"resource.customizations.health.": "x"},
            "argocd-cm key 'resource.customizations.health.': expected",
        ),
        (
            {"resource.customizations": "Pod: [unclosed"},
            "argocd-cm key 'resource.customizations' is not valid YAML",
        ),
        (
            {"resource.customizations": "- a list"},
            "argocd-cm key 'resource.customizations' must map <group>/<kind>",
        ),
        (
            {"resource.customizations": "Pod:\n  health.lua: [1]\n"},
            "argocd-cm key 'resource.customizations': health.lua of 'Pod' must be a string",
        ),
    ],
)
def test_unreadable_config_names_the_key(data: dict[str, str], message: str) -> None:
    with pytest.raises(LuaHealthConfigError) as caught:
        parse_health_scripts(data)
    assert str(caught.value).startswith(message)


# Lookup


def test_exact_entry_wins_over_wildcards_and_the_most_specific_wildcard_wins() -> None:
    checks = LuaHealthChecks(
        {
            ("*", "*"): "any",
            ("*.crossplane.io", "*"): "crossplane",
            ("ec2.aws.crossplane.io", "*"): "ec2",
            ("ec2.aws.crossplane.io", "Instance"): "instance",
        }
    )
    assert checks.script_for(("ec2.aws.crossplane.io", "Instance")) == "instance"
    assert checks.script_for(("ec2.aws.crossplane.io", "VPC")) == "ec2"
    assert checks.script_for(("s3.aws.crossplane.io", "Bucket")) == "crossplane"
    assert checks.script_for(("", "Pod")) == "any"


def test_no_matching_script_leaves_the_built_in_rule_to_decide() -> None:
    checks = LuaHealthChecks.from_argocd_cm(
        {"resource.customizations.health.cert-manager.io_Certificate": CERTIFICATE_HEALTH}
    )
    service = kube_object("v1", "Service", "web", spec={"type": "ClusterIP"})
    assert checks(service) is None
    assert argo_health(service, checks) == ArgoHealth(HEALTHY)


def test_configured_script_overrides_a_built_in_rule() -> None:
    checks = LuaHealthChecks.from_argocd_cm(
        {"resource.customizations.health.Service": 'return {status = "Degraded", message = "no"}'}
    )
    service = kube_object("v1", "Service", "web", spec={"type": "ClusterIP"})
    assert argo_health(service, checks) == ArgoHealth(DEGRADED, "no")


def test_object_being_deleted_does_not_run_its_script() -> None:
    checks = LuaHealthChecks.from_argocd_cm(
        {"resource.customizations.health.cert-manager.io_Certificate": "error('ran')"}
    )
    obj = certificate()
    obj["metadata"]["deletionTimestamp"] = "2026-11-23T10:00:00Z"
    assert argo_health(obj, checks) == ArgoHealth(PROGRESSING, "pending deletion")


# Realistic scripts


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        ((), ArgoHealth(PROGRESSING, "Waiting for the certificate to be issued")),
        (
            (condition("Ready", "True", "Ready", "Certificate is up to date"),),
            ArgoHealth(HEALTHY, "Certificate is up to date"),
        ),
        (
            (condition("Ready", "False", "InProgress", "Issuing"),),
            ArgoHealth(PROGRESSING, "Waiting for the certificate to be issued"),
        ),
        (
            (
                condition("Issuing", "False", "Failed", "order failed"),
                condition("Ready", "False", "DoesNotExist", "Secret does not exist"),
            ),
            ArgoHealth(DEGRADED, "DoesNotExist: Secret does not exist"),
        ),
    ],
)
def test_certificate_by_its_ready_condition(
    conditions: tuple[dict[str, str], ...], expected: ArgoHealth
) -> None:
    checks = LuaHealthChecks.from_argocd_cm(
        {"resource.customizations.health.cert-manager.io_Certificate": CERTIFICATE_HEALTH}
    )
    assert argo_health(certificate(*conditions), checks) == expected


def test_arrays_are_indexed_from_one_and_nulls_are_absent() -> None:
    obj = kube_object(
        "example.com/v1",
        "Cluster",
        "db",
        spec={"replicas": 3, "backup": None},
        status={"members": [{"ready": True}, {"ready": False}, {"ready": True}]},
    )
    assert run(REPLICAS_HEALTH, obj) == ArgoHealth(PROGRESSING, "2/3 members ready")
    obj["status"]["members"][1]["ready"] = True
    assert run(REPLICAS_HEALTH, obj) == ArgoHealth(HEALTHY, "all 3 ready")
    probe = """
local first, before = obj.status.members[1].ready, obj.status.members[0]
return {status = "Healthy", message = table.concat(
  {tostring(obj.spec.backup), tostring(first), tostring(before), tostring(#obj.status.members)}, " ")}
"""
    assert run(probe, obj) == ArgoHealth(HEALTHY, "nil true nil 3")


def test_standard_string_table_math_and_safe_os_functions_are_available() -> None:
    source = """
local parts = {}
table.insert(parts, string.upper("ok"))
table.insert(parts, tostring(math.floor(2.7)))
table.sort(parts)
assert(os.time() > 0 and #os.date("!%Y") == 4)
local ok, err = pcall(error, "caught")
print("discarded")
return {status = "Healthy", message = table.concat(parts, ",") .. " " .. tostring(ok) .. " " .. err}
"""
    assert run(source) == ArgoHealth(HEALTHY, "2,OK false caught")


def test_loadstring_of_source_runs_inside_the_sandbox() -> None:
    source = """
local chunk = assert(loadstring("return os.execute"))
local message = pcall(chunk) and "reached os.execute" or "refused"
return {status = "Healthy", message = message}
"""
    assert run(source) == ArgoHealth(HEALTHY, "refused")


# The sandbox's refusals


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ('os.execute("touch /tmp/pwned")', "os.execute is not available to health scripts"),
        ('io.open("/etc/passwd")', "io is not available to health scripts"),
        ('require("os")', "require is not available to health scripts"),
        ('dofile("/etc/passwd")', "dofile is not available to health scripts"),
        ("debug.sethook()", "debug is not available to health scripts"),
        ("getfenv(0).os.execute('id')", "getfenv is not available to health scripts"),
        ("string.dump(print)", "string.dump is not available to health scripts"),
        ('assert(loadstring("\\27LuaQ\\0"))', "loading bytecode is not allowed"),
    ],
)
def test_sandbox_refuses_with_a_message_naming_the_kind_and_what_was_refused(
    source: str, reason: str
) -> None:
    health = run(source)
    assert health.status is UNKNOWN
    assert health.message.startswith("health.lua for cert-manager.io/Certificate failed: ")
    assert health.message.endswith(reason)
    assert "\n" not in health.message


def test_strings_lead_to_no_bytecode_dumper_either() -> None:
    source = 'return {status = ("x").dump and "Degraded" or "Healthy"}'
    assert run(source).status is HEALTHY


def test_script_given_as_bytecode_is_refused() -> None:
    health = run("\x1bLuaQ\x00")
    assert health == ArgoHealth(
        UNKNOWN,
        "health.lua for cert-manager.io/Certificate failed: the script is bytecode; give its Lua source",
    )


def test_script_raising_an_error_is_unknown_with_the_error() -> None:
    assert run('error("x")') == ArgoHealth(
        UNKNOWN, "health.lua for cert-manager.io/Certificate failed: health.lua:1: x"
    )


def test_script_that_does_not_compile_is_unknown() -> None:
    health = run("return {status = = 1}")
    assert health.status is UNKNOWN
    assert "health.lua:1: unexpected symbol near '='" in health.message


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("return 5", "it returned a number, not a table {status, message}"),
        ("local x = 1", "it returned a nil, not a table {status, message}"),
        (
            'return {status = "Broken"}',
            "it returned status 'Broken'; expected one of Healthy, Suspended, Progressing, "
            "Missing, Degraded, Unknown",
        ),
        ("return {message = 'no status'}", "it returned status None; expected one of"),
        (
            'return {status = "Healthy", message = {}}',
            "it returned a message that is not a string",
        ),
    ],
)
def test_script_returning_no_valid_status_is_unknown(source: str, reason: str) -> None:
    health = run(source)
    assert health.status is UNKNOWN
    assert reason in health.message


def test_script_may_return_any_argo_cd_status_and_no_message() -> None:
    for status in ArgoHealthStatus:
        assert run(f'return {{status = "{status.code}"}}') == ArgoHealth(status, "")


# Limits


def within(seconds: float, call: Callable[[], T]) -> T:
    """``call()``, failing the test rather than hanging it if the sandbox cannot stop a script."""
    results: list[T] = []
    # A daemon thread: a script that never stops must not keep the test run alive.
    worker = threading.Thread(target=lambda: results.append(call()), daemon=True)
    worker.start()
    worker.join(seconds)
    assert results, f"the script was still running after {seconds} s"
    return results[0]


def test_endless_loop_is_stopped_after_the_time_limit() -> None:
    started = time.monotonic()
    health = within(5, lambda: run("while true do end"))
    elapsed = time.monotonic() - started
    assert health == ArgoHealth(
        UNKNOWN, "health.lua for cert-manager.io/Certificate failed: it ran longer than 1 s"
    )
    assert 0.9 < elapsed < 2.0


@pytest.mark.parametrize(
    "source",
    [
        "while true do pcall(function() while true do end end) end",
        "while true do xpcall(function() while true do end end, function(e) return e end) end",
    ],
)
def test_loop_catching_the_timeout_is_stopped_too(source: str) -> None:
    started = time.monotonic()
    health = within(5, lambda: run(source, timeout_seconds=0.2))
    assert health.message.endswith("it ran longer than 0.2 s")
    assert time.monotonic() - started < 1.0


def test_script_allocating_too_much_memory_is_stopped() -> None:
    health = run('local s = string.rep("x", 64 * 1024 * 1024)', max_memory_bytes=8 * 1024 * 1024)
    assert health == ArgoHealth(
        UNKNOWN,
        "health.lua for cert-manager.io/Certificate failed: it used more than 8 MiB of memory",
    )


def test_memory_cap_counts_what_the_script_allocates_beyond_a_large_object() -> None:
    # Converting the object under the cap would abort the whole process.
    obj = kube_object("v1", "ConfigMap", "big", spec={str(i): str(i) * 100 for i in range(20_000)})
    source = 'return {status = "Healthy", message = obj.spec["19999"]:sub(1, 5)}'
    assert run(source, obj, max_memory_bytes=1024 * 1024) == ArgoHealth(HEALTHY, "19999")


def test_a_script_cannot_leave_anything_behind_for_the_next_run() -> None:
    assert run('string.upper = nil; leaked = true; return {status = "Healthy"}').status is HEALTHY
    source = 'return {status = "Healthy", message = string.upper(tostring(leaked))}'
    assert run(source) == ArgoHealth(HEALTHY, "NIL")


def test_scripts_run_from_several_threads_at_once() -> None:
    checks = LuaHealthChecks.from_argocd_cm(
        {
            "resource.customizations.health.cert-manager.io_Certificate": CERTIFICATE_HEALTH,
            "resource.customizations.health.example.com_Spin": "while true do end",
        },
        LuaLimits(timeout_seconds=0.5),
    )
    ready = certificate(condition("Ready", "True", "Ready", "up to date"))
    spinning = kube_object("example.com/v1", "Spin", "s")
    started = time.monotonic()

    def run_all() -> tuple[list[ArgoHealth | None], list[ArgoHealth | None]]:
        with ThreadPoolExecutor(max_workers=8) as pool:
            spins = [pool.submit(checks, spinning) for _ in range(2)]
            certificates = list(pool.map(checks, [ready] * 200))
            return certificates, [spin.result() for spin in spins]

    certificates, spins = within(10, run_all)
    assert certificates == [ArgoHealth(HEALTHY, "up to date")] * 200
    assert (
        spins
        == [ArgoHealth(UNKNOWN, "health.lua for example.com/Spin failed: it ran longer than 0.5 s")]
        * 2
    )
    # The spinning scripts run beside the others rather than one after another.
    assert time.monotonic() - started < 1.5
