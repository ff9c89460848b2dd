"""Commit message templates and what Flux renders for them, shared by the table test
(test_message.py) and the comparison with Go's engine (test_message_against_go.py).

The data is one automation's run: two files, three objects, one of them a HelmRelease
whose tag is set through a ``:tag`` marker.
"""

from __future__ import annotations

from lockstep.images.setters import Change, MarkerField, ObjectRef, PolicyKey

AUTOMATION = ("flux-system", "apps")
VALUES = {"env": "production", "team": "platform", "ticket": "OPS-42"}

WEB = ObjectRef(api_version="apps/v1", kind="Deployment", name="web", namespace="apps")
WORKER = ObjectRef(api_version="apps/v1", kind="Deployment", name="worker", namespace="apps")
PODINFO = ObjectRef(
    api_version="helm.toolkit.fluxcd.io/v2", kind="HelmRelease", name="podinfo", namespace="apps"
)


def change(
    obj: ObjectRef | None, old: str, new: str, policy: str, field: MarkerField = MarkerField.IMAGE
) -> Change:
    return Change(1, PolicyKey("flux-system", policy), field, old, new, obj)


CHANGES = {
    "apps/web.yaml": [
        change(WEB, "ghcr.io/acme/web:1.0.0", "ghcr.io/acme/web:1.1.0", "web"),
        change(WORKER, "ghcr.io/acme/web:1.0.0", "ghcr.io/acme/web:1.1.0", "web"),
    ],
    "apps/podinfo.yaml": [change(PODINFO, "6.5.0", "6.5.4", "podinfo", MarkerField.TAG)],
}

# Flux's documented templates, in their shape: files, then objects with their changes.
FILES_AND_OBJECTS = """Automated image update

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

FILES_AND_OBJECTS_RENDERED = """Automated image update

Automation name: flux-system/apps

Files:
- apps/podinfo.yaml
- apps/web.yaml
Objects:
- Deployment web
  Changes:
    - ghcr.io/acme/web:1.0.0 -> ghcr.io/acme/web:1.1.0
- Deployment worker
  Changes:
    - ghcr.io/acme/web:1.0.0 -> ghcr.io/acme/web:1.1.0
- HelmRelease podinfo
  Changes:
    - 6.5.0 -> 6.5.4
"""

CHANGES_WITH_VALUES = """[ci skip] {{ .Values.env }}: update images ({{ .Values.ticket }})
{{ range .Changed.Changes }}
- {{ .Setter }}: {{ .OldValue }} -> {{ .NewValue }}
{{- end }}
"""

CHANGES_WITH_VALUES_RENDERED = """[ci skip] production: update images (OPS-42)

- flux-system:podinfo:tag: 6.5.0 -> 6.5.4
- flux-system:web: ghcr.io/acme/web:1.0.0 -> ghcr.io/acme/web:1.1.0
"""

# (template, what Flux renders)
RENDERED: list[tuple[str, str]] = [
    (FILES_AND_OBJECTS, FILES_AND_OBJECTS_RENDERED),
    (CHANGES_WITH_VALUES, CHANGES_WITH_VALUES_RENDERED),
    ("", "Update from image update automation"),
    (
        "{{ .AutomationObject.Namespace }}/{{ .AutomationObject.Name }} {{ .AutomationObject.String }}",
        "flux-system/apps flux-system/apps",
    ),
    (
        '{{ printf "%v|%s" .AutomationObject .AutomationObject }}',
        "flux-system/apps|flux-system/apps",
    ),
    # trimming
    ("a  {{- 1 -}}  b", "a1b"),
    ("a \n\t {{- /* a comment */ -}} \n b", "ab"),
    ("x{{/* no trim */}} y", "x y"),
    ("{{3}} {{-3}}", "3 -3"),
    (
        "{{- range .Changed.Changes }}\n  {{ .NewValue }}\n{{- end }}",
        "\n  6.5.4\n  ghcr.io/acme/web:1.1.0",
    ),
    # literals
    ("{{ \"a\\tb\\u00e9\\x41\" }}|{{ `raw\\n` }}|{{ 'a' }}", "a\tbéA|raw\\n|97"),
    ("{{ 0x1F }} {{ 1_000 }} {{ 0o17 }} {{ 017 }} {{ -2 }} {{ +3 }}", "31 1000 15 15 -2 3"),
    (
        "{{ 1.5 }} {{ 1e3 }} {{ 1e6 }} {{ 1234567.0 }} {{ 0.0001 }} {{ 0.00001 }} {{ 3.0 }}",
        "1.5 1000 1e+06 1.234567e+06 0.0001 1e-05 3",
    ),
    ("{{ true }} {{ false }} {{ not true }}", "true false false"),
    # fields, maps, methods
    ("{{ .Values.env }} {{ .Values.missing }}", "production <no value>"),
    ("{{ .Values }}", "map[env:production team:platform ticket:OPS-42]"),
    (
        "{{ len .Changed.Changes }} {{ len .Changed.Objects }} {{ len .Changed.FileChanges }}",
        "2 3 2",
    ),
    ('{{ index .Values "team" }}|{{ index .Values "nope" }}|', "platform||"),
    (
        '{{ with index .Changed.FileChanges "apps/podinfo.yaml" }}{{ . }}{{ end }}',
        "map[{{{helm.toolkit.fluxcd.io/v2 HelmRelease} {podinfo apps}}}:[{6.5.0 6.5.4 flux-system:podinfo:tag}]]",
    ),
    (
        '{{ printf "%+v" (index .Changed.Changes 0) }}',
        "{OldValue:6.5.0 NewValue:6.5.4 Setter:flux-system:podinfo:tag}",
    ),
    (
        "{{ range $o, $c := .Changed.Objects }}{{ $o.APIVersion }} {{ $o.Namespace }}/{{ $o.Name }} {{ len $c }};{{ end }}",
        "apps/v1 apps/web 1;apps/v1 apps/worker 1;helm.toolkit.fluxcd.io/v2 apps/podinfo 1;",
    ),
    # variables
    ("{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}", "2"),
    (
        "{{ $n := .AutomationObject.Name }}{{ range .Changed.Changes }}{{ $n }}{{ $.Values.env }} {{ end }}",
        "appsproduction appsproduction ",
    ),
    (
        "{{ range $i, $c := .Changed.Changes }}{{ $i }}={{ $c.NewValue }} {{ end }}",
        "0=6.5.4 1=ghcr.io/acme/web:1.1.0 ",
    ),
    (
        "{{ range $k, $v := .Values }}{{ $k }}:{{ $v }},{{ end }}",
        "env:production,team:platform,ticket:OPS-42,",
    ),
    ("{{ range $i := 3 }}{{ $i }}{{ end }}", "012"),
    # pipelines
    ('{{ "abc" | upper | printf "%s!" }}', "ABC!"),
    ('{{ printf "%d changes" (len .Changed.Changes) }}', "2 changes"),
    ("{{ (index .Changed.Changes 1).NewValue }}", "ghcr.io/acme/web:1.1.0"),
    # control structures
    (
        '{{ if eq .Values.env "staging" }}s{{ else if eq .Values.env "production" }}p{{ else }}o{{ end }}',
        "p",
    ),
    ("{{ with .Values.missing }}yes{{ else with .Values.team }}{{ . }}{{ end }}", "platform"),
    ("{{ range .Values.missing }}x{{ else }}none{{ end }}", "none"),
    (
        "{{ range $i := 10 }}{{ if eq $i 2 }}{{ continue }}{{ end }}{{ if gt $i 4 }}{{ break }}{{ end }}{{ $i }}{{ end }}",
        "0134",
    ),
    (
        '{{ define "line" }}- {{ .OldValue }} => {{ .NewValue }}\n{{ end }}{{ range .Changed.Changes }}{{ template "line" . }}{{ end }}',
        "- 6.5.0 => 6.5.4\n- ghcr.io/acme/web:1.0.0 => ghcr.io/acme/web:1.1.0\n",
    ),
    ('{{ block "title" .AutomationObject }}Update {{ .Name }}{{ end }}', "Update apps"),
    # builtins
    ('{{ and 1 0 2 }} {{ and 1 2 }} {{ or 0 "" "x" }} {{ or 0 "" }}|', "0 2 x |"),
    ('{{ print 1 2 "a" "b" 3 }}|{{ println "a" 1 }}|{{ print nil }}', "1 2ab3|a 1\n|<nil>"),
    (
        '{{ eq 1 2 3 1 }} {{ ne "a" "b" }} {{ lt 1 2 }} {{ le "b" "a" }} {{ gt 2.5 1.5 }} {{ ge 3 3 }}',
        "true true true false true true",
    ),
    ('{{ len "héllo" }} {{ index "abc" 1 }} {{ slice (list 1 2 3 4) 1 3 }}', "6 98 [2 3]"),
    (
        '{{ html "<a href=\\"x\\">&\'" }}|{{ js "it\'s <b>=" }}|{{ urlquery "a b&c/d" }}',
        "&lt;a href=&#34;x&#34;&gt;&amp;&#39;|it\\'s \\u003Cb\\u003E\\u003D|a+b%26c%2Fd",
    ),
    # printf
    ('{{ printf "%s|%d|%v|%q|%x|%t|%%" "s" 42 "v" "q" "hi" true }}', 's|42|v|"q"|6869|true|%'),
    (
        '{{ printf "[%5s][%-5s][%05d][%.2f][%8.3f][%+d][%x][%X][%o][%b]" "ab" "ab" 42 3.14159 2.5 7 255 255 8 5 }}',
        "[   ab][ab   ][00042][3.14][   2.500][+7][ff][FF][10][101]",
    ),
    (
        '{{ printf "%e|%g|%T|%T|%c|%U|%v" 1234.5 0.000012 "s" 1.5 65 9731 .AutomationObject }}',
        "1.234500e+03|1.2e-05|string|float64|A|U+2603|flux-system/apps",
    ),
    (
        '{{ printf "%d %s" 1 }}|{{ printf "%d" "x" }}|{{ printf "%s" 1 2 }}',
        "1 %!s(MISSING)|%!d(string=x)|%!s(int=1)%!(EXTRA int=2)",
    ),
    # printing values
    ('{{ list 1 "a" (list 2 3) nil true 1.5 }}', "[1 a [2 3] <nil> true 1.5]"),
    ('{{ dict "b" 2 "a" (dict "c" "d") }}', "map[a:map[c:d] b:2]"),
    (
        "{{ .Changed.Objects }}",
        "map[{{{apps/v1 Deployment} {web apps}}}:[{ghcr.io/acme/web:1.0.0 ghcr.io/acme/web:1.1.0 flux-system:web}] {{{apps/v1 Deployment} {worker apps}}}:[{ghcr.io/acme/web:1.0.0 ghcr.io/acme/web:1.1.0 flux-system:web}] {{{helm.toolkit.fluxcd.io/v2 HelmRelease} {podinfo apps}}}:[{6.5.0 6.5.4 flux-system:podinfo:tag}]]",
    ),
    # sprig: strings
    (
        '{{ upper "abc" }} {{ lower "ABC" }} {{ title "hello wide-world" }} {{ untitle "Hello World" }}',
        "ABC abc Hello Wide-World hello world",
    ),
    (
        '[{{ trim "  x  " }}][{{ trimAll "$" "$$5$" }}][{{ trimPrefix "v" "v1.2" }}][{{ trimSuffix ".0" "1.0" }}]',
        "[x][5][1.2][1]",
    ),
    (
        '{{ trunc 5 "abcdefgh" }} {{ trunc -3 "abcdefgh" }} {{ abbrev 6 "abcdefgh" }} {{ substr 1 4 "abcdefgh" }}',
        "abcde fgh abc... bcd",
    ),
    (
        '{{ replace "." "-" "1.2.3" }} {{ repeat 3 "ab" }} {{ nospace "a b\tc" }} {{ initials "image update automation" }}',
        "1-2-3 ababab abc iua",
    ),
    (
        '{{ contains "web" .Values.team }} {{ hasPrefix "plat" .Values.team }} {{ hasSuffix "form" .Values.team }}',
        "false true true",
    ),
    ('{{ quote "a" 1 nil }} {{ squote "b" }} {{ cat "a" 1 nil "b" }}', '"a" "1" \'b\' a 1 b'),
    ('{{ indent 2 "a\\nb" }}|{{ nindent 2 "c" }}', "  a\n  b|\n  c"),
    (
        '{{ kebabcase "myAppName" }} {{ snakecase "HTTPServer2xx" }} {{ camelcase "image_update-automation" }} {{ plural "file" "files" 2 }}',
        "my-app-name http_server_2xx ImageUpdateAutomation files",
    ),
    # sprig: lists and dicts
    (
        '{{ join ", " (list "a" 1 nil "b") }} {{ splitList "/" "a/b/c" }} {{ split "/" "a/b" }} {{ (splitn ":" 2 "ns:name:tag")._1 }}',
        "a, 1, b [a b c] map[_0:a _1:b] name:tag",
    ),
    (
        '{{ sortAlpha (list "c" "a" "b") }} {{ uniq (list 1 1 2 "1") }} {{ first (list 1 2) }} {{ last (list 1 2) }} {{ rest (list 1 2 3) }} {{ initial (list 1 2 3) }}',
        "[a b c] [1 2 1] 1 2 [2 3] [1 2]",
    ),
    (
        '{{ append (list 1) 2 }} {{ prepend (list 1) 0 }} {{ concat (list 1) (list 2 3) }} {{ compact (list 0 "" 1 "a" nil) }} {{ has 2 (list 1 2) }} {{ without (list 1 2 3) 2 }}',
        "[1 2] [0 1] [1 2 3] [1 a] true [1 3]",
    ),
    (
        '{{ $d := dict "a" 1 }}{{ $_ := set $d "b" 2 }}{{ $d }} {{ get $d "a" }} {{ get $d "z" }}| {{ hasKey $d "b" }} {{ keys $d | sortAlpha }} {{ pluck "a" $d (dict "a" 3) }}',
        "map[a:1 b:2] 1 | true [a b] [1 3]",
    ),
    # sprig: defaults, conversions, numbers
    (
        '{{ .Values.missing | default "none" }} {{ default "x" "" }} {{ empty "" }} {{ empty .Changed }} {{ coalesce "" nil "c" }} {{ ternary "y" "n" true }}',
        "none x true false c y",
    ),
    (
        '{{ toString 12 }} {{ atoi "42" }} {{ atoi "x" }} {{ int "0x10" }} {{ int64 "7.00" }} {{ float64 "2.50" }} {{ int 3.9 }}',
        "12 42 0 16 7 2.5 3",
    ),
    (
        "{{ add 1 2 3 }} {{ add1 9 }} {{ sub 5 7 }} {{ mul 2 3 4 }} {{ div 7 2 }} {{ div -7 2 }} {{ mod -7 2 }} {{ max 1 9 3 }} {{ min 4 2 8 }}",
        "6 10 -2 24 3 -3 -1 9 2",
    ),
    # sprig: encodings, hashes, JSON
    (
        '{{ b64enc "hello" }} {{ b64dec "aGVsbG8=" }} {{ sha256sum "a" | trunc 12 }} {{ sha1sum "a" | trunc 12 }}',
        "aGVsbG8= hello ca978112ca1b 86f7e437faa5",
    ),
    (
        '{{ toJson .AutomationObject }} {{ toJson (index .Changed.Changes 0) }} {{ toJson (dict "a" (list 1 "<b>")) }}',
        '{"Namespace":"flux-system","Name":"apps"} {"OldValue":"6.5.0","NewValue":"6.5.4","Setter":"flux-system:podinfo:tag"} {"a":[1,"\\u003cb\\u003e"]}',
    ),
    (
        '{{ range $o, $_ := .Changed.Objects }}{{ toJson $o }}{{ break }}{{ end }}|{{ toJson .Changed }}|{{ toPrettyJson (dict "k" (list 1)) }}',
        '{"apiVersion":"apps/v1","kind":"Deployment","name":"web","namespace":"apps"}||{\n  "k": [\n    1\n  ]\n}',
    ),
    # sprig: regular expressions
    (
        '{{ regexMatch "^v[0-9]+" "v12" }} {{ regexFind "[0-9]+" "ab12cd34" }} {{ regexFindAll "[0-9]" "a1b2c3" 2 }} {{ regexSplit "[,;]" "a,b;c" -1 }}',
        "true 12 [1 2] [a b c]",
    ),
    (
        '{{ regexReplaceAll "web:(?P<tag>[0-9.]+)" "ghcr.io/acme/web:1.1.0" "tag ${tag} ($1)" }} {{ regexReplaceAllLiteral "[0-9]" "v1.2" "$1" }} {{ regexReplaceAll "a*" "baaac" "-" }}',
        "ghcr.io/acme/tag 1.1.0 (1.1.0) v$1.$1 -b-c-",
    ),
    (
        '{{ range .Changed.Changes }}{{ regexReplaceAll ".*:" .NewValue "" }} {{ end }}',
        "6.5.4 1.1.0 ",
    ),
]

# (template, part of the error Flux gives): both engines fail on these.
FAILING: list[tuple[str, str]] = [
    ("{{ .Updated }}", "uses .Updated, which Flux removed: use .Changed"),
    (
        "{{ range .Changed.ImageResult.Files }}{{ end }}",
        "uses .Changed.ImageResult, which Flux removed",
    ),
    ("{{ nosuchfunc . }}", 'function "nosuchfunc" not defined'),
    ("{{ .Values.env ", "unclosed action"),
    ("{{ $undefined }}", 'undefined variable "$undefined"'),
    ("{{ end }}", "unexpected {{end}}"),
    ("{{ if true }}x", "unexpected EOF"),
    ("{{ .Changed.Nope }}", "can't evaluate field Nope in type update.Result"),
    ("{{ .AutomationObject.Name.Length }}", "can't evaluate field Length in type string"),
    ("{{ upper 1 }}", "expected string; found 1"),
    ("{{ upper .Changed }}", "wrong type for value; expected string; got update.Result"),
    ("{{ .Values.missing | upper }}", "invalid value; expected string"),
    ("{{ keys .Values }}", "expected map[string]interface {}; got map[string]string"),
    ("{{ index .Changed.Changes 5 }}", "error calling index: index out of range: 5"),
    ('{{ eq 1 "1" }}', "incompatible types for comparison"),
    ('{{ fail "stop here" }}', "error calling fail: stop here"),
    ('{{ first "abc" }}', "Cannot find first on type string"),
    ("{{ div 1 0 }}", "integer divide by zero"),
    ("{{ nil }}", "nil is not a command"),
    ('{{ template "missing" }}', 'template "missing" not defined'),
    ("{{ break }}", "{{break}} outside {{range}}"),
    ('{{ "a" | "b" }}', "non executable command in pipeline stage 2"),
    ("{{ .Changed.Changes 1 }}", "wrong number of args for Changes: want 0 got 1"),
]
