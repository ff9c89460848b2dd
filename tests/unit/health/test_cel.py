"""healthCheckExprs: CEL overrides per kind, evaluated inProgress → failed → current."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from lockstep.health import (
    GroupKind,
    HealthCheck,
    HealthCheckExpr,
    HealthCheckExprError,
    HealthState,
    compile_health_check_exprs,
    evaluate,
)

from .objects import condition, kube_object

Overrides = Mapping[GroupKind, HealthCheck]

CERTIFICATE = HealthCheckExpr(
    api_version="cert-manager.io/v1",
    kind="Certificate",
    in_progress="status.?conditions.orValue([]).exists(c, c.type == 'Issuing' && c.status == 'True')",
    failed="status.conditions.exists(c, c.type == 'Ready' && c.status == 'False')",
    current="status.conditions.exists(c, c.type == 'Ready' && c.status == 'True')",
)


def certificate(*conditions: dict[str, str], generation: int = 1) -> dict[str, Any]:
    return kube_object(
        "cert-manager.io/v1",
        "Certificate",
        "tls",
        generation=generation,
        spec={"secretName": "tls"},
        status={"observedGeneration": 1, "conditions": list(conditions)},
    )


@pytest.fixture(scope="module")
def overrides() -> Overrides:
    return compile_health_check_exprs([CERTIFICATE])


def test_current_expression_true_is_current(overrides: Overrides) -> None:
    health = evaluate(certificate(condition("Ready", "True")), overrides)
    assert health.state is HealthState.CURRENT
    assert health.message.startswith("Certificate/apps/tls: current expression is true")


def test_failed_expression_true_has_failed(overrides: Overrides) -> None:
    health = evaluate(certificate(condition("Ready", "False", "Failed")), overrides)
    assert health.state is HealthState.FAILED


def test_in_progress_expression_wins_over_the_others(overrides: Overrides) -> None:
    obj = certificate(condition("Issuing", "True"), condition("Ready", "False"))
    assert evaluate(obj, overrides).state is HealthState.IN_PROGRESS


def test_no_expression_true_is_in_progress(overrides: Overrides) -> None:
    health = evaluate(certificate(condition("Other", "True")), overrides)
    assert health.state is HealthState.IN_PROGRESS
    assert health.message == "Certificate/apps/tls: no health check expression is true yet"


def test_expression_reading_a_missing_field_is_in_progress(overrides: Overrides) -> None:
    obj = certificate()
    del obj["status"]["conditions"]
    health = evaluate(obj, overrides)
    assert health.state is HealthState.IN_PROGRESS
    assert "could not be evaluated" in health.message


def test_generation_behind_is_in_progress_before_any_expression(overrides: Overrides) -> None:
    health = evaluate(certificate(condition("Ready", "True"), generation=2), overrides)
    assert health.state is HealthState.IN_PROGRESS


def test_overrides_match_group_and_kind_whatever_the_version(overrides: Overrides) -> None:
    obj = certificate(condition("Ready", "True"))
    obj["apiVersion"] = "cert-manager.io/v1beta1"
    assert "current expression is true" in evaluate(obj, overrides).message


def test_kinds_without_an_override_keep_their_own_rules(overrides: Overrides) -> None:
    obj = kube_object("v1", "PersistentVolumeClaim", "data", spec={}, status={"phase": "Pending"})
    assert evaluate(obj, overrides).state is HealthState.IN_PROGRESS


def test_strings_extension_is_available() -> None:
    phase = HealthCheckExpr(
        api_version="db.example.com/v1",
        kind="Database",
        current="status.phase.lowerAscii() == 'running'",
    )
    obj = kube_object("db.example.com/v1", "Database", "pg", spec={}, status={"phase": "Running"})
    assert evaluate(obj, compile_health_check_exprs([phase])).state is HealthState.CURRENT


def test_malformed_expression_names_kind_and_expression() -> None:
    bad = HealthCheckExpr(api_version="db.example.com/v1", kind="Database", current="status.(")
    with pytest.raises(HealthCheckExprError) as caught:
        compile_health_check_exprs([bad])
    message = str(caught.value)
    assert message.startswith(
        "healthCheckExprs for db.example.com/v1 Database: current expression 'status.(' is invalid: "
    )
    assert "Syntax error" in message
    assert "\n" not in message


def test_expression_that_is_not_a_bool_is_rejected() -> None:
    bad = HealthCheckExpr(api_version="db.example.com/v1", kind="Database", current="'yes'")
    with pytest.raises(HealthCheckExprError, match="returns string, not bool"):
        compile_health_check_exprs([bad])


def test_current_expression_is_required() -> None:
    bad = HealthCheckExpr(api_version="db.example.com/v1", kind="Database", current="")
    with pytest.raises(HealthCheckExprError, match="current expression is required"):
        compile_health_check_exprs([bad])


def test_two_entries_for_one_kind_are_rejected() -> None:
    with pytest.raises(HealthCheckExprError, match="two entries"):
        compile_health_check_exprs([CERTIFICATE, CERTIFICATE])
