"""Immutable-field failures: recognised, the fields named, one line saying what to do."""

from __future__ import annotations

from lockstep.apply.owners import KUSTOMIZATION_RECREATE_HINT
from lockstep.apply.recreate import immutable_failure, immutable_fields, is_immutable_error
from lockstep.kube import Conflict, Invalid, ObjectRef

# As kube-apiserver 1.36 words them, the long values shortened.
JOB = (
    'Job.batch "migrate" is invalid: spec.template: Invalid value: '
    '{"labels":{"job-name":"migrate"},"Spec":{"Containers":[{"Name":"m, x: y"}]}}: '
    "field is immutable"
)
DEPLOYMENT = (
    'Deployment.apps "web" is invalid: [spec.selector: Invalid value: '
    '{"matchLabels":{"app":"web2"}}: field is immutable, spec.template.metadata.labels: '
    'Invalid value: {"app":"web2"}: `selector` does not match template `labels`, '
    'spec.strategy: Invalid value: "x": field is immutable]'
)
SERVICE = (
    'Service "web" is invalid: spec.clusterIPs[0]: Invalid value: ["10.0.0.78"]: '
    "may not change once set"
)
CEL = 'Widget.example.com "w" is invalid: spec.size: Invalid value: "integer": size is immutable'
JOB_REF = ObjectRef("batch/v1", "Job", "migrate", "apps")


def test_immutable_errors_are_invalid_errors_that_say_so() -> None:
    for message in (JOB, DEPLOYMENT, SERVICE, CEL):
        assert is_immutable_error(Invalid(message, code=422))
    assert not is_immutable_error(Invalid('ConfigMap "x" is invalid: data: Too long', code=422))
    assert not is_immutable_error(Conflict(JOB, code=409))


def test_the_immutable_fields_are_read_from_the_message() -> None:
    assert immutable_fields(JOB) == ["spec.template"]
    assert immutable_fields(DEPLOYMENT) == ["spec.selector", "spec.strategy"]
    assert immutable_fields(SERVICE) == ["spec.clusterIPs[0]"]
    assert immutable_fields(CEL) == ["spec.size"]
    assert immutable_fields("admission webhook denied: immutable field changed") == []


def test_the_failure_names_object_and_fields_and_says_what_to_do() -> None:
    assert immutable_failure(JOB_REF, Invalid(JOB, code=422), KUSTOMIZATION_RECREATE_HINT) == (
        "Job/apps/migrate dry-run failed: spec.template is immutable; "
        "set spec.force: true on the Kustomization or annotate the object "
        "kustomize.toolkit.fluxcd.io/force: enabled to recreate it"
    )
    two = immutable_failure(JOB_REF, Invalid(DEPLOYMENT, code=422), KUSTOMIZATION_RECREATE_HINT)
    assert two.startswith("Job/apps/migrate dry-run failed: spec.selector, spec.strategy are ")


def test_without_a_field_the_server_message_is_kept() -> None:
    message = "admission webhook denied: immutable field changed"
    assert immutable_failure(JOB_REF, Invalid(message, code=422), KUSTOMIZATION_RECREATE_HINT) == (
        f"Job/apps/migrate dry-run failed: {message}; set spec.force: true on the "
        "Kustomization or annotate the object kustomize.toolkit.fluxcd.io/force: enabled "
        "to recreate it"
    )
