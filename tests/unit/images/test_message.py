"""Commit messages of ImageUpdateAutomation: Flux's templates render as Flux renders them."""

from __future__ import annotations

import pytest

from lockstep.images.message import DEFAULT_TEMPLATE, TemplateError, render_commit_message
from lockstep.images.setters import MarkerField

from .message_cases import AUTOMATION, CHANGES, FAILING, RENDERED, VALUES, WEB, change


def render(template: str | None, changes: dict[str, list] | None = None) -> str:  # type: ignore[type-arg]
    return render_commit_message(
        template,
        automation=AUTOMATION,
        changes=CHANGES if changes is None else changes,
        values=VALUES,
    )


@pytest.mark.parametrize(("template", "expected"), RENDERED)
def test_template_renders_as_flux_renders_it(template: str, expected: str) -> None:
    assert render(template) == expected


@pytest.mark.parametrize(("template", "error"), FAILING)
def test_template_that_flux_refuses_fails_with_one_line(template: str, error: str) -> None:
    with pytest.raises(TemplateError) as raised:
        render(template)
    assert error in str(raised.value)
    assert "\n" not in str(raised.value)


def test_no_template_gives_flux_default_message() -> None:
    assert render(None) == DEFAULT_TEMPLATE == "Update from image update automation"


def test_parse_and_run_errors_name_the_field_and_the_place() -> None:
    with pytest.raises(
        TemplateError,
        match=r"^cannot parse: template: commit message:2: ",
    ):
        render("ok\n{{ nosuch }}")
    with pytest.raises(
        TemplateError,
        match=r'^cannot render: template: commit message:1:9: executing "commit message" at <\.Nope>',
    ):
        render("hello {{ .Nope }}")


def test_removed_updated_field_points_to_changed() -> None:
    with pytest.raises(TemplateError) as raised:
        render("{{ range .Updated.Images }}{{ . }}{{ end }}")
    assert str(raised.value) == (
        "uses .Updated, which Flux removed: use .Changed "
        "(see https://fluxcd.io/flux/components/image/imageupdateautomations/#message-template)"
    )


def test_changes_in_several_files_list_each_distinct_change_once() -> None:
    same = change(WEB, "a:1", "a:2", "a")
    changes = {"b.yaml": [same], "a.yaml": [same, change(WEB, "1", "2", "a", MarkerField.TAG)]}
    rendered = render(
        "{{ range .Changed.Changes }}{{ .Setter }} {{ .NewValue }};{{ end }}", changes
    )
    assert rendered == "flux-system:a a:2;flux-system:a:tag 2;"


def test_object_in_several_files_keeps_the_changes_of_the_last_file() -> None:
    changes = {
        "b.yaml": [change(WEB, "x:1", "x:2", "x")],
        "a.yaml": [change(WEB, "y:1", "y:2", "y")],
    }
    rendered = render(
        "{{ range $o, $c := .Changed.Objects }}{{ $o.Name }}: {{ $c }}{{ end }}", changes
    )
    assert rendered == "web: [{x:1 x:2 flux-system:x}]"


def test_value_outside_any_object_is_listed_under_an_empty_identifier() -> None:
    changes = {"values.yaml": [change(None, "1", "2", "chart", MarkerField.TAG)]}
    rendered = render(
        "{{ range $o, $c := .Changed.Objects }}[{{ $o }}] {{ len $c }}{{ end }}", changes
    )
    assert rendered == "[{{{ } { }}}] 1"


def test_files_without_changes_are_not_listed() -> None:
    rendered = render(
        "{{ len .Changed.FileChanges }}", {"a.yaml": [], "b.yaml": [change(WEB, "1", "2", "p")]}
    )
    assert rendered == "1"


def test_values_missing_when_none_are_given() -> None:
    rendered = render_commit_message(
        '{{ .Values }} {{ .Values.env }} {{ .Values.env | default "dev" }}',
        automation=AUTOMATION,
        changes=CHANGES,
        values={},
    )
    assert rendered == "map[] <no value> dev"


def test_recursive_template_fails_instead_of_exhausting_the_stack() -> None:
    with pytest.raises(TemplateError, match="exceeded maximum template depth"):
        render('{{ define "loop" }}{{ template "loop" . }}{{ end }}{{ template "loop" . }}')


def test_functions_flux_has_but_commit_messages_do_not_need_fail_when_called_only() -> None:
    assert render('{{ if false }}{{ semver "1.0.0" }}{{ end }}ok') == "ok"
    with pytest.raises(
        TemplateError, match="error calling semver: lockstep does not support semver"
    ):
        render('{{ semver "1.0.0" }}')
