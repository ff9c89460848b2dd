"""Commit message templates rendered by the Python engine and by Go's text/template with
sprig (tests/golden/gotemplate, a small Go program on data shaped like Flux's), compared
byte for byte; where Go fails, the Python engine must fail too.

The Go program is built once and cached under ``~/.cache/lockstep``, named by the hash
of its sources. Go is a prerequisite of ``make install``: without it this test fails.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from ground.golden import golden_program
from lockstep.images.message import TemplateError, render_commit_message
from lockstep.images.setters import Change, MarkerField

from .message_cases import AUTOMATION, CHANGES, FAILING, RENDERED, VALUES, WEB, change

# Edge cases beyond the table: trimming, printf, nested ranges, printing, sprig.
EXTRA = [
    "{{- /* c */ -}}\n\n{{ .Values.env -}}\n\n!",
    'a{{- "" -}}\n\tb {{ "x" }}  {{- "y" }}',
    "line1\n{{- if true }}\nline2\n{{- end }}\nline3",
    "{{ range .Changed.Changes -}}\n{{ .NewValue }}\n{{ end -}}",
    "a {{- 1 }} {{ 2 -}} b{{/* x */}}c{{- /* y */}} d",
    '{{ printf "%5.1f|%-8q|%08.3f|%+.2e|%6.2f%%" 3.14159 "x" -3.14159 12345.678 99.5 }}',
    '{{ printf "%v %v %v" (list) (dict) .Values }} {{ printf "%s|%d|%q" (list "a" "b") (list 1 2) (list "a" 1) }}',
    '{{ printf "%x %X %t %v" "héllo" 3054 false nil }}',
    '{{ printf "%10v|%-10v|%*d|%-*d|" .AutomationObject "x" 5 42 4 7 }}',
    '{{ printf "%.3s|%.0d|%5.0f|%c%c|%#x|%#o" "abcdef" 0 2.5 72 105 255 8 }}',
    '{{ printf "%d" 1.5 }} {{ printf "%s" .AutomationObject }} {{ printf "%d" .AutomationObject }}',
    "{{ range $f, $objs := .Changed.FileChanges }}{{ $f }}:{{ range $o, $cs := $objs }} {{ $o.Kind }}/{{ $o.Name }}({{ range $cs }}{{ .Setter }}{{ end }}){{ end }};{{ end }}",
    "{{ range $i, $c := .Changed.Changes }}{{ range $j, $d := $.Changed.Changes }}{{ $i }}{{ $j }} {{ end }}{{ end }}",
    "{{ .Changed.FileChanges }}",
    "{{ .Changed }}",
    "{{ . }}",
    '{{ dict 1 2 true 3 }} {{ list (dict "a" nil) }} {{ list .AutomationObject }} {{ dict "a" .AutomationObject }}',
    "{{ 0.1 }} {{ 1e21 }} {{ 1e20 }} {{ 123456789.0 }} {{ -0.5 }} {{ 2.5e-5 }} {{ 100.0 }}",
    "{{ toJson (list 1.5 1e21 1e-7 100.0 0.000001 123456789.0) }}",
    '{{ float64 "1e3" }} {{ float64 "abc" }} {{ float64 "1_000.5" }} {{ float64 "0x1p4" }}',
    '{{ add 1 "2" 3.9 }} {{ int "08" }} {{ int "010" }} {{ int "1.0" }} {{ int "-5" }} {{ atoi " 5" }} {{ atoi "+5" }}',
    '{{ max 1 "7" 3.5 }} {{ min -1 "-7" }} {{ mul 3 "x" }} {{ sub "10" 4 }} {{ add1 true }}',
    "{{ len (until 5) }} {{ until 3 }} {{ until -2 }} {{ untilStep 0 10 3 }} {{ untilStep 5 0 -2 }}",
    '{{ snakecase "FirstName" }} {{ snakecase "HTTPServer" }} {{ snakecase "NoHTTPS" }} {{ snakecase "GO_PATH" }} {{ snakecase "GO PATH" }}',
    '{{ snakecase "http2xx" }} {{ snakecase "HTTP20xOK" }} {{ snakecase "Duration2m3s" }} {{ snakecase "Bld4Floor3rd" }} {{ snakecase "a.b-c" }}',
    '{{ kebabcase "image-update automation" }} {{ kebabcase "podinfo.v2" }} {{ kebabcase "a--b" }} {{ kebabcase "ABC" }} {{ kebabcase "fooBAR9" }}',
    '{{ camelcase "http_server" }} {{ camelcase "_leading" }} {{ camelcase "ALL_CAPS" }} {{ camelcase "x" }} {{ camelcase "-" }} {{ camelcase "a__b  c" }}',
    '{{ title "image_update automation-v2 élan" }} {{ untitle "ABC DEF" }}',
    '{{ substr 2 100 "abcdef" }} {{ substr -1 2 "abcdef" }} {{ trunc 0 "abc" }} {{ trunc -10 "abc" }} {{ abbrev 3 "abcdef" }} {{ abbrev 5 "abc" }}',
    '{{ initials "  multiple   spaces here" }} [{{ nospace " a\\nb " }}] {{ quote }}|{{ squote nil }}|{{ cat }}|',
    '{{ "ns:name:tag" | splitList ":" | last }} {{ (split ":" "a:b:c")._2 }} {{ splitn ":" 0 "a:b" }} {{ splitList "" "abc" }} {{ splitn "" 2 "abc" }}',
    '{{ join "-" (splitList "/" "a/b/c") }} {{ join "," "single" }} [{{ join "," .Values.missing }}] {{ replace "" "-" "abc" }}',
    '{{ slice (list 1 2 3) 1 }} {{ slice (splitList "," "a,b,c") 0 2 }} {{ slice (list) }}',
    '{{ reverse (list 1 2 3) }} {{ uniq (list "a" "b" "a") }} {{ has "b" (list "a" "b") }} {{ has 1 (list 1.0) }} {{ has 1 nil }}',
    "{{ first (list) }} {{ last (list) }} {{ rest (list) }} {{ initial (list) }}",
    '{{ without (list 1 "1" 2) 1 }} {{ compact (list false true 0.0) }} {{ concat }}',
    '{{ $d := dict "k" "v" }}{{ $d.k }} {{ $d.nope }} {{ index $d "k" }} {{ index $d "nope" }}',
    '{{ values (dict "a" 1) }} {{ keys (dict "b" 1) (dict "a" 2) | sortAlpha }} {{ pick (dict "a" 1 "b" 2) "a" }} {{ omit (dict "a" 1 "b" 2) "a" }}',
    '{{ dict "a" }} {{ unset (dict "a" 1 "b" 2) "a" }} {{ sortAlpha "x" }} {{ sortAlpha (list 3 1 2) }}',
    '{{ default 5 0 }} {{ default "d" (list) }} {{ default "d" .AutomationObject }} {{ empty .AutomationObject }} {{ empty 0.0 }} {{ empty (dict) }}',
    '{{ coalesce }} {{ all 1 "" }} {{ any 0 "x" }} {{ ternary 1 2 false }} {{ false | ternary "a" "b" }}',
    "{{ toString nil }} {{ toString .AutomationObject }} {{ toString (list 1) }} {{ toString 1.50 }}",
    '{{ typeOf 1 }} {{ typeOf .Values }} {{ kindOf (list) }} {{ kindIs "map" .Values }} {{ typeOf nil }} {{ typeOf (add 1 1) }}',
    '{{ b64dec "not base64!" }} {{ b32enc "hi" }} {{ b32dec (b32enc "hi") }} {{ sha512sum "" | trunc 8 }} {{ adler32sum "abc" }}',
    '{{ toJson nil }} {{ toJson "a\\"b\\n<&>" }} {{ toJson 1.0 }} {{ toJson .Values }} {{ toRawJson "<b>" }}',
    "{{ toPrettyJson (list) }} {{ toPrettyJson (dict) }} {{ toPrettyJson .AutomationObject }} [{{ toJson .Changed.Objects }}]",
    '{{ regexFindAll "a*" "baaac" -1 }} {{ regexSplit "x*" "axbxxc" -1 }} {{ regexSplit "," "a,b,c" 2 }} {{ regexSplit "" "abc" -1 }}',
    '{{ regexMatch "[" "x" }} {{ regexFind "(?i)WEB" "ghcr.io/acme/web" }} {{ regexReplaceAll "^(\\\\w+)/(\\\\w+)$" "acme/web" "$2@$1" }}',
    '{{ regexReplaceAll "(a)(b)?" "ab a" "[$1|$2|$3|$$|${1}x|$1x|$]" }} {{ regexQuoteMeta "a.b*c" }} [{{ regexFind "[0-9]+$" "v1.2\\n" }}]',
    '{{ regexReplaceAll "(?m)^" "a\\nb" "> " }} {{ regexFindAll "[[:digit:]]+" "a12b3" -1 }} {{ regexReplaceAll "" "abc" "-" }}',
    '{{ index (list (list 1 2) (list 3 4)) 1 0 }} {{ index .Changed.FileChanges "nope" }} {{ len .Values }} {{ len (dict) }} {{ len "" }}',
    '{{ eq .Values.missing nil }} {{ eq "a" "b" "a" }} {{ ne 1 1 }} {{ lt "a" "b" }} {{ ge 1.5 2.5 }} {{ eq .AutomationObject .AutomationObject }}',
    '{{ and .Values.missing "x" }}|{{ or .Values.missing "" }}|{{ not .Values.missing }} {{ not (list) }} {{ not .AutomationObject }}',
    '{{ html .Values.missing }} {{ js "é\\u2028\\x01" }} {{ urlquery "é ~!" }} {{ html 1 "<" }}',
    "{{ print .Values.missing 1 }}|{{ print 1 .Values.missing }}|{{ println }}|{{ print }}",
    '{{ $x := "a" }}{{ with $x := "b" }}{{ $x }}{{ end }}{{ $x }}',
    '{{ range $i, $v := (list "a" "b") }}{{ $i }}{{ $v }}{{ else }}empty{{ end }} {{ range $k, $v := dict "b" 1 "a" 2 }}{{ $k }}{{ $v }}{{ end }}',
    "{{ $v := 0 }}{{ range $v = (list 1 2 3) }}{{ end }}{{ $v }} {{ range 0 }}x{{ else }}zero{{ end }}",
    '{{ define "a" }}A{{ .Name }}{{ end }}{{ template "a" .AutomationObject }}{{ template "a" }}',
    '{{ define "x" }}{{ $ }}{{ end }}{{ template "x" 5 }}{{ block "b" 6 }}{{ . }}{{ end }}',
    "{{ with .Changed.Changes }}{{ len . }}{{ end }}{{ with $x := .Values.team }}{{ $x }}{{ end }} {{ with 0 }}x{{ else }}zero{{ end }}",
    '{{ if and .Values.env (eq .Values.team "platform") }}ok{{ end }} {{ if or false 0 }}no{{ else }}else{{ end }}',
    '{{ (first .Changed.Changes).Setter }} {{ (dict "a" (dict "b" "c")).a.b }} {{ $c := index .Changed.Changes 0 }}{{ $c.Setter }}',
    "{{ $r := .Changed }}{{ len $r.Changes }} {{ $.AutomationObject.Name }} {{ .Changed.Objects | len }}",
    '{{ range $o, $c := .Changed.Objects }}{{ printf "%s/%s %s" $o.Kind $o.Name (index $c 0).NewValue | nindent 2 }}{{ end }}',
    '{{ .Values.env | upper | trunc 4 | printf "%s-%s" "pre" }}',
    '{{ printf "%v" 1e6 }} {{ printf "%.1f" 0.05 }} {{ printf "%5.1e" 0.0 }} {{ printf "%g" 100000.0 }} {{ printf "%g|%G" 1e21 1e-9 }}',
    '{{ printf "%08.3f|%-8.2f|%+08d|% d|%x" -1.5 2.25 -42 5 -255 }}',
    '{{ printf "%5t|%-6v|%3c|%q" true false 65 "a\\"b\\\\" }} {{ printf "%s %v" .Values.missing .Changed.Changes }}',
    '{{ printf "%v" (index .Changed.Changes 0) }} {{ printf "%d%%" 50 }} {{ printf "%" }} {{ printf "%z" 1 }}',
    '{{ (fromJson "{\\"a\\": [1, 2.5, \\"x\\", null, true]}").a }} {{ fromJson "nope" }} {{ toJson (fromJson "[1e3]") }}',
    '{{ floor 2.7 }} {{ ceil "2.1" }} {{ round 2.345 2 }} {{ round -2.5 0 }} {{ round 2.5 0 0.6 }}',
    '{{ upper "straße" }} {{ len "日本" }} {{ title "hello" | printf "%q" }}',
    '{{ define "t" }}{{ $x := . }}{{ $x }}{{ end }}{{ $x := 1 }}{{ template "t" 2 }}{{ $x }}{{ $x := 3 }}{{ $x }}',
    '{{ with $x := .Values.env }}{{ $x }}{{ else }}none{{ end }} {{ 1 }}\r\n{{- 2 }} a  {{- /* x */}}  b {{ "a" }}{{/* c */}}{{ "b" }}',
    '{{ range $k, $v := dict "10" 1 "9" 2 }}{{ $k }}{{ end }} {{ add (add (add 1 2) 3) (len (list 1 2)) }}',
    '{{ .Changed.Changes | len }} {{ .Values | len }} {{ list 1 2 | last }} {{ "x" | list "a" }} {{ .AutomationObject | toString | upper }}',
    "{{ $objs := .Changed.Objects }}{{ range $o, $_ := $objs }}{{ index $objs $o | len }}{{ end }}",
    "{{ 1_0.5 }} {{ 0x1p-2 }} {{ 1e100 }} {{ 9223372036854775807 }} {{ -0 }} {{ 0.0 }} {{ -0.0 }} {{ 'x' }} {{ '\\n' }} {{ '\\u00e9' }}",
    '{{ "\\a\\b\\f\\v\\\\\\"" | printf "%q" }} {{ printf "%q" "é\\x00" }} {{ html "é" }}',
    '{{ "x" | and 1 }} {{ 0 | or "" }} {{ not 0 }} {{ not "a" }} {{ eq .Values.env "production" "staging" }}',
    '{{ template "t" }}{{ define "t" }}T{{ end }}',
    '{{ define "commit message" }}custom {{ .Values.env }}{{ end }}',
]

# Errors beyond the table: both engines must refuse these.
EXTRA_FAILING = [
    "{{ .Values.env.foo }}",
    "{{ index .Values 1 }}",
    "{{ printf }}",
    "{{ range .AutomationObject }}{{ end }}",
    "{{ range $i, $v := 3 }}{{ end }}",
    "{{ (1).X }}",
    "{{ $x := 1 }}{{ $x.Y }}",
    '{{ .AutomationObject.String "x" }}',
    "{{ upper }}",
    "{{ 1 2 }}",
    "{{ lt (list) 1 }}",
    "{{ eq (list 1) (list 1) }}",
    '{{ repeat -1 "x" }}',
    '{{ substr 5 2 "abcdef" }}',
    '{{ regexFind "[" "x" }}',
    '{{ define "a" }}x{{ end }}{{ define "a" }}y{{ end }}',
    '{{ "unterminated }}',
    "{{ 08 }}",
    "{{ else }}",
    "{{ with }}{{ end }}",
    "{{ range $a, $b, $c := . }}{{ end }}",
    "{{ $x = 1 }}",
    "{{ mustToJson .Changed.Objects }}",
    "{{ slice (list 1 2) 3 }}",
    "{{ toPrettyJson 1 | fail }}",
]


def other_changes() -> list[tuple[str, dict[str, list[Change]]]]:
    """Change sets beyond the usual one: a change in two files, an object in two files,
    a value outside any object."""
    same = change(WEB, "a:1", "a:2", "a")
    return [
        (
            "{{ range .Changed.Changes }}{{ .Setter }} {{ .NewValue }};{{ end }}",
            {"b.yaml": [same], "a.yaml": [same, change(WEB, "1", "2", "a", MarkerField.TAG)]},
        ),
        (
            "{{ .Changed.Objects }}",
            {
                "b.yaml": [change(WEB, "x:1", "x:2", "x")],
                "a.yaml": [change(WEB, "y:1", "y:2", "y")],
            },
        ),
        (
            "{{ .Changed }} {{ range $o, $_ := .Changed.Objects }}[{{ $o.Kind }}]{{ end }}",
            {"values.yaml": [change(None, "1", "2", "chart", MarkerField.TAG)]},
        ),
        (
            "{{ len .Changed.FileChanges }} {{ .Changed.Changes }}",
            {"a.yaml": [], "b.yaml": [change(WEB, "1", "2", "p")]},
        ),
    ]


def cases() -> list[tuple[str, Mapping[str, Sequence[Change]], Mapping[str, str]]]:
    found: list[tuple[str, Mapping[str, Sequence[Change]], Mapping[str, str]]] = []
    templates = [template for template, _ in RENDERED + FAILING] + EXTRA + EXTRA_FAILING
    found += [(template, CHANGES, VALUES) for template in templates]
    found += [(template, changes, VALUES) for template, changes in other_changes()]
    found += [("{{ .Values }} {{ .Values.env }}", CHANGES, {})]
    return found


CASES = cases()


def go_input(
    template: str, changes: Mapping[str, Sequence[Change]], values: Mapping[str, str]
) -> dict[str, Any]:
    def obj(item: Change) -> dict[str, str] | None:
        if item.object is None:
            return None
        ref = item.object
        return {
            "apiVersion": ref.api_version,
            "kind": ref.kind,
            "name": ref.name,
            "namespace": ref.namespace,
        }

    return {
        "template": template,
        "automation": list(AUTOMATION),
        "changes": {
            path: [
                {"old": c.old_value, "new": c.new_value, "setter": c.setter, "object": obj(c)}
                for c in file_changes
            ]
            for path, file_changes in changes.items()
        },
        "values": dict(values),
    }


def go_program() -> Path:
    return golden_program("gotemplate", "compare commit message templates with Go's engine")


@pytest.fixture(scope="module")
def go_results() -> list[dict[str, str]]:
    program = go_program()
    stdin = json.dumps([go_input(*case) for case in CASES])
    ran = subprocess.run(
        [program], input=stdin, capture_output=True, text=True, timeout=120, check=False
    )
    assert ran.returncode == 0, ran.stderr
    results: list[dict[str, str]] = json.loads(ran.stdout)
    assert len(results) == len(CASES)
    return results


def test_there_are_enough_cases_to_mean_something() -> None:
    assert len(CASES) >= 120


@pytest.mark.parametrize("number", range(len(CASES)), ids=[case[0][:60] for case in CASES])
def test_python_renders_as_go(number: int, go_results: list[dict[str, str]]) -> None:
    template, changes, values = CASES[number]
    go = go_results[number]
    try:
        python: dict[str, str] = {
            "output": render_commit_message(
                template, automation=AUTOMATION, changes=changes, values=values
            )
        }
    except TemplateError as error:
        python = {"error": str(error)}
    if "error" in go:
        assert "error" in python, (
            f"Go fails with {go['error']!r}, Python gives {python.get('output')!r}"
        )
    else:
        assert python == {"output": go["output"]}
