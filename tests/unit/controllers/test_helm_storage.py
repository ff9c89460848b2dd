"""Helm's release record: base64 of gzip of JSON, read and written without losing what
Helm wrote. tests/integration/test_helm_storage.py checks the same records against the
real helm."""

from __future__ import annotations

import base64
import copy
import dataclasses
import gzip
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from lockstep.controllers.helm.storage import (
    APPLY_METHOD_SSA,
    HookPhase,
    Release,
    ReleaseRecordError,
    ReleaseStatus,
    decode,
    encode,
    go_time,
    hook_run,
    release_from_render,
    secret_name,
    written_since_deployed,
)
from lockstep.render.helm import Hook, Rendered

NOW = datetime(2026, 12, 7, 12, 30, 5, 250000, tzinfo=UTC)

# A record as Helm 4 writes it, with what lockstep does not model: nanoseconds, a time
# with an offset, info.resources, a field of a later Helm, the hook's last run.
HELM_RECORD: dict[str, Any] = {
    "name": "web",
    "info": {
        "first_deployed": "2026-12-07T13:20:01.123456789+01:00",
        "last_deployed": "2026-12-07T12:20:01.98765Z",
        "description": "Install complete",
        "status": "deployed",
        "notes": "Visit the web.\n",
        "resources": {"v1/ConfigMap": [{"kind": "ConfigMap"}]},
    },
    "chart": {
        "metadata": {"name": "web", "version": "0.2.0", "apiVersion": "v2"},
        "lock": None,
        "templates": [{"name": "templates/cm.yaml", "data": "YQ=="}],
        "values": {"colour": "blue"},
        "schema": None,
        "files": [],
    },
    "config": {"colour": "green", "replicas": 2},
    "manifest": "---\n# Source: web/templates/cm.yaml\nkind: ConfigMap\n",
    "hooks": [
        {
            "name": "web-pre-install",
            "kind": "ConfigMap",
            "path": "web/templates/pre-install.yaml",
            "manifest": "kind: ConfigMap\n",
            "events": ["pre-install", "pre-upgrade"],
            "last_run": {
                "started_at": "2026-12-07T12:20:00.5Z",
                "completed_at": "2026-12-07T12:20:00.75Z",
                "phase": "Succeeded",
            },
            "weight": -5,
            "delete_policies": ["before-hook-creation"],
        }
    ],
    "version": 1,
    "namespace": "shop",
    "apply_method": "ssa",
    "a_later_field": {"kept": True},
}

# Helm 3 wrote zero times as "" and had no apply_method.
HELM3_RECORD: dict[str, Any] = {
    "name": "old",
    "info": {
        "first_deployed": "2023-03-01T10:00:00.5Z",
        "last_deployed": "2023-03-01T10:00:00.5Z",
        "deleted": "",
        "description": "Upgrade complete",
        "status": "superseded",
    },
    "chart": {"metadata": {"name": "old", "version": "1.0.0"}},
    "manifest": "kind: ConfigMap\n",
    "version": 3,
    "namespace": "legacy",
}


def helm_encoded(document: Any, *, compressed: bool = True) -> bytes:
    data = json.dumps(document).encode()
    return base64.b64encode(gzip.compress(data) if compressed else data)


def stored_json(encoded: bytes) -> dict[str, Any]:
    raw = base64.b64decode(encoded)
    assert raw[:3] == b"\x1f\x8b\x08"
    document: dict[str, Any] = json.loads(gzip.decompress(raw))
    return document


def rendered() -> Rendered:
    return Rendered(
        manifest="---\n# Source: web/templates/cm.yaml\nkind: ConfigMap\n",
        hooks=(
            Hook(
                name="web-migrate",
                kind="Job",
                path="web/templates/migrate.yaml",
                manifest="kind: Job\n",
                events=("pre-upgrade",),
                weight=0,
                delete_policies=("before-hook-creation", "hook-succeeded"),
                output_log_policies=(),
            ),
        ),
        crds=(),
        notes="Upgraded.\n",
        chart={"metadata": {"name": "web", "version": "0.3.0"}},
        config={"colour": "red"},
        chart_name="web",
        chart_version="0.3.0",
        app_version="1.5.0",
    )


def test_a_helm_record_decodes_into_its_fields() -> None:
    release = decode(helm_encoded(HELM_RECORD))

    assert (release.name, release.namespace, release.version) == ("web", "shop", 1)
    assert release.status is ReleaseStatus.DEPLOYED
    assert release.first_deployed == datetime(2026, 12, 7, 12, 20, 1, 123456, tzinfo=UTC)
    assert release.last_deployed == datetime(2026, 12, 7, 12, 20, 1, 987650, tzinfo=UTC)
    assert release.deleted is None
    assert (release.description, release.notes) == ("Install complete", "Visit the web.\n")
    assert (release.chart_name, release.chart_version) == ("web", "0.2.0")
    assert release.config == {"colour": "green", "replicas": 2}
    assert release.manifest == HELM_RECORD["manifest"]
    assert release.hooks == HELM_RECORD["hooks"]
    assert (release.apply_method, release.rollback_revision, release.labels) == ("ssa", 0, {})


def test_a_helm_record_is_written_back_exactly_as_read() -> None:
    assert stored_json(encode(decode(helm_encoded(HELM_RECORD)))) == HELM_RECORD
    assert stored_json(encode(decode(helm_encoded(HELM3_RECORD)))) == HELM3_RECORD


def test_a_changed_status_changes_only_the_status_and_description() -> None:
    release = decode(helm_encoded(HELM_RECORD))

    superseded = release.with_status(ReleaseStatus.SUPERSEDED, "Superseded by lockstep")

    expected = copy.deepcopy(HELM_RECORD)
    expected["info"] |= {"status": "superseded", "description": "Superseded by lockstep"}
    assert stored_json(encode(superseded)) == expected


def test_a_changed_time_is_written_as_go_writes_it() -> None:
    release = decode(helm_encoded(HELM3_RECORD))
    deleted = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

    document = stored_json(encode(dataclasses.replace(release, deleted=deleted)))

    assert document["info"]["deleted"] == "2026-01-02T03:04:05Z"
    assert document["info"]["first_deployed"] == "2023-03-01T10:00:00.5Z"


def test_a_release_built_here_round_trips() -> None:
    release = release_from_render(
        rendered(), "web", "shop", 2, ReleaseStatus.PENDING_UPGRADE, "Preparing upgrade", NOW
    )

    again = decode(encode(release))

    assert again == release
    assert again.first_deployed == again.last_deployed == NOW


def test_a_release_built_here_is_written_in_helms_order_without_empty_fields() -> None:
    first = datetime(2026, 12, 1, tzinfo=UTC)
    release = release_from_render(
        rendered(),
        "web",
        "shop",
        2,
        ReleaseStatus.DEPLOYED,
        "Upgrade complete",
        NOW,
        first_deployed=first,
        labels={"team": "shop"},
    )

    document = stored_json(encode(release))

    assert list(document) == [
        "name",
        "info",
        "chart",
        "config",
        "manifest",
        "hooks",
        "version",
        "namespace",
        "apply_method",
    ]
    assert document["info"] == {
        "first_deployed": "2026-12-01T00:00:00Z",
        "last_deployed": "2026-12-07T12:30:05.25Z",
        "description": "Upgrade complete",
        "status": "deployed",
        "notes": "Upgraded.\n",
    }
    assert document["apply_method"] == APPLY_METHOD_SSA
    assert "team" not in json.dumps(document)  # labels live on the Secret
    assert document["hooks"] == [
        {
            "name": "web-migrate",
            "kind": "Job",
            "path": "web/templates/migrate.yaml",
            "manifest": "kind: Job\n",
            "events": ["pre-upgrade"],
            "last_run": {"phase": ""},
            "delete_policies": ["before-hook-creation", "hook-succeeded"],
        }
    ]


def test_a_hook_run_is_recorded_as_helm_records_it() -> None:
    [pending] = release_from_render(
        rendered(), "web", "shop", 2, ReleaseStatus.PENDING_UPGRADE, "", NOW
    ).hooks

    running = hook_run(pending, HookPhase.RUNNING, NOW)
    done = hook_run(pending, HookPhase.SUCCEEDED, NOW, NOW + timedelta(seconds=2))

    assert running["last_run"] == {"started_at": "2026-12-07T12:30:05.25Z", "phase": "Running"}
    assert done["last_run"] == {
        "started_at": "2026-12-07T12:30:05.25Z",
        "completed_at": "2026-12-07T12:30:07.25Z",
        "phase": "Succeeded",
    }
    assert pending["last_run"] == {"phase": ""}


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "2026-01-02T03:04:05Z"),
        (datetime(2026, 1, 2, 3, 4, 5, 120000, tzinfo=UTC), "2026-01-02T03:04:05.12Z"),
        (datetime(2026, 1, 2, 3, 4, 5, 1), "2026-01-02T03:04:05.000001Z"),
        (
            datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
            "2026-01-02T03:04:05-05:30",
        ),
    ],
)
def test_times_are_written_as_go_marshals_them(moment: datetime, text: str) -> None:
    assert go_time(moment) == text


def test_a_record_without_gzip_is_read_as_plain_json() -> None:
    release = decode(helm_encoded(HELM3_RECORD, compressed=False))

    assert (release.name, release.version, release.status) == ("old", 3, ReleaseStatus.SUPERSEDED)
    assert release.apply_method == ""


def test_the_value_may_be_text_and_wrapped_in_lines() -> None:
    encoded = helm_encoded(HELM3_RECORD).decode()
    wrapped = "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))

    assert decode(wrapped).name == "old"


def test_an_unknown_status_reads_as_unknown_and_is_kept() -> None:
    record = {**HELM3_RECORD, "info": {**HELM3_RECORD["info"], "status": "paused"}}

    release = decode(helm_encoded(record))

    assert release.status is ReleaseStatus.UNKNOWN
    assert stored_json(encode(release))["info"]["status"] == "paused"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not base64!", "the release record is not base64"),
        (base64.b64encode(b"\x1f\x8b\x08\x00broken"), "the release record is broken gzip"),
        (base64.b64encode(gzip.compress(b"{not json")), "the release record is not JSON"),
        (helm_encoded(["a", "list"]), "the release record is not a JSON object"),
        (helm_encoded({"name": "web", "version": "2"}), "version is '2', not an integer"),
        (helm_encoded({"name": 7}), "name is int, not a string"),
        (helm_encoded({"config": []}), "config is list, not an object"),
        (helm_encoded({"hooks": ["x"]}), "hooks is not a list of objects"),
        (
            helm_encoded({"info": {"last_deployed": "yesterday"}}),
            "last_deployed is 'yesterday', not an RFC 3339 time",
        ),
    ],
)
def test_a_bad_record_is_refused_in_one_line(data: bytes, message: str) -> None:
    with pytest.raises(ReleaseRecordError) as refused:
        decode(data)

    assert str(refused.value).startswith(message)
    assert "\n" not in str(refused.value)


def test_a_status_given_as_text_is_the_status_it_names() -> None:
    release = Release("web", "shop", 1, "pending-install")  # type: ignore[arg-type]

    assert release.status is ReleaseStatus.PENDING_INSTALL
    assert release.status.is_pending
    with pytest.raises(ValueError, match="paused"):
        Release("web", "shop", 1, "paused")  # type: ignore[arg-type]


def test_secrets_are_named_as_helm_names_them() -> None:
    assert secret_name("web", 12) == "sh.helm.release.v1.web.v12"


def _revision(version: int, status: ReleaseStatus, names: list[str]) -> Release:
    manifest = "".join(
        f"---\n# Source: app/templates/{name}.yaml\nkind: ConfigMap\nmetadata:\n  name: {name}\n"
        for name in names
    )
    return Release(name="app", namespace="apps", version=version, status=status, manifest=manifest)


def _names(release: Release | None) -> list[str]:
    assert release is not None
    return [line.split(": ")[1] for line in release.manifest.splitlines() if "  name: " in line]


def test_what_a_release_wrote_since_its_deployed_revision_joins_the_later_manifests() -> None:
    history = [
        _revision(1, ReleaseStatus.SUPERSEDED, ["old"]),
        _revision(2, ReleaseStatus.DEPLOYED, ["a", "b"]),
        _revision(3, ReleaseStatus.FAILED, ["a", "c"]),
        _revision(4, ReleaseStatus.PENDING_UPGRADE, ["d"]),
    ]

    written = written_since_deployed(history)

    assert written is not None
    assert written.version == 2
    assert written.status == ReleaseStatus.DEPLOYED
    assert _names(written) == ["a", "b", "a", "c", "d"]
    assert written.manifest.count("---\n") == 5


def test_without_a_deployed_revision_every_revision_counts() -> None:
    history = [
        _revision(1, ReleaseStatus.FAILED, ["a"]),
        _revision(2, ReleaseStatus.PENDING_INSTALL, ["b"]),
    ]

    written = written_since_deployed(history)

    assert written is not None
    assert written.version == 2
    assert _names(written) == ["a", "b"]
    assert written_since_deployed([]) is None
