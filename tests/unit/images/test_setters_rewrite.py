"""rewrite: marked values set to the policies' latest images, every other byte kept."""

from __future__ import annotations

from textwrap import dedent

import pytest

from lockstep.images.setters import (
    Change,
    ImageRef,
    MarkerField,
    ObjectRef,
    PolicyKey,
    find_markers,
    rewrite,
)

APP = PolicyKey("flux-system", "app")
DIGEST = "sha256:" + "ab" * 32
POLICIES = {
    ("flux-system", "app"): ImageRef("ghcr.io/acme/app", "1.3.0"),
    ("flux-system", "pinned"): ImageRef("ghcr.io/acme/app", "1.3.0", DIGEST),
}


def _line(value: str, setter: str = "flux-system:app") -> str:
    return f'image: {value} # {{"$imagepolicy": "{setter}"}}\n'


@pytest.mark.parametrize(
    ("setter", "before", "after"),
    [
        ("flux-system:app", "ghcr.io/acme/app:1.2.1", "ghcr.io/acme/app:1.3.0"),
        ("flux-system:app:tag", "1.2.1", "1.3.0"),
        ("flux-system:app:name", "docker.io/acme/app", "ghcr.io/acme/app"),
        ("flux-system:pinned", "ghcr.io/acme/app:1.2.1", f"ghcr.io/acme/app:1.3.0@{DIGEST}"),
        (
            "flux-system:pinned",
            "ghcr.io/acme/app:1.2.1@sha256:" + "00" * 32,
            f"ghcr.io/acme/app:1.3.0@{DIGEST}",
        ),
        (
            "flux-system:pinned",
            "ghcr.io/acme/app@sha256:" + "00" * 32,
            f"ghcr.io/acme/app:1.3.0@{DIGEST}",
        ),
        ("flux-system:pinned:tag", "1.2.1", "1.3.0"),
        ("flux-system:pinned:name", "ghcr.io/acme/old", "ghcr.io/acme/app"),
        ("flux-system:pinned:digest", "sha256:" + "00" * 32, DIGEST),
    ],
)
def test_each_marker_form_sets_its_part(setter: str, before: str, after: str) -> None:
    result = rewrite(_line(before, setter), POLICIES)
    assert result.text == _line(after, setter)
    [change] = result.changes
    assert (change.old_value, change.new_value, change.setter) == (before, after, setter)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("'1.2.1'", "'1.3.0'"),
        ('"1.2.1"', '"1.3.0"'),
        ("1.2.1", "1.3.0"),
        ("1.10", "1.3.0"),  # 1.10 read as a number; 1.3.0 reads as a string
        ("v1", "1.3.0"),
        ("&tag 1.2.1", "&tag 1.3.0"),
        ("!!str 1.2.1", "!!str 1.3.0"),
    ],
)
def test_the_value_keeps_its_quoting(before: str, after: str) -> None:
    assert rewrite(_line(before, "flux-system:app:tag"), POLICIES).text == _line(
        after, "flux-system:app:tag"
    )


@pytest.mark.parametrize(
    ("tag", "written"),
    [
        ("1.3.0", "1.3.0"),
        ("1.10", '"1.10"'),  # YAML 1.1 and 1.2: a float
        ("10", '"10"'),
        ("true", '"true"'),
        ("yes", '"yes"'),  # YAML 1.1 boolean
        ("1e10", '"1e10"'),  # YAML 1.2 float, a string to PyYAML
        ("0o17", '"0o17"'),  # YAML 1.2 octal
        ("12:30", '"12:30"'),  # YAML 1.1 sexagesimal integer
        ("2026-01-01", '"2026-01-01"'),  # YAML 1.1 timestamp
        ("null", '"null"'),
        ("main-1a2b3c4-1700000000", "main-1a2b3c4-1700000000"),
        ("v1.2.3_build+7", "v1.2.3_build+7"),
        ("-rc1", '"-rc1"'),
        ("@latest", '"@latest"'),
    ],
)
def test_a_plain_value_is_quoted_only_when_it_would_not_read_back_as_the_tag(
    tag: str, written: str
) -> None:
    policies = {APP: ImageRef("ghcr.io/acme/app", tag)}
    text = 'tag: v0 # {"$imagepolicy": "flux-system:app:tag"}\n'
    result = rewrite(text, policies)
    assert result.text == f'tag: {written} # {{"$imagepolicy": "flux-system:app:tag"}}\n'
    assert [m.value for m in find_markers(result.text)] == [tag]


def test_quotes_inside_a_new_value_are_escaped_in_its_style() -> None:
    policies = {APP: ImageRef("ghcr.io/acme/app", "it's\"")}
    text = dedent(
        """\
        a: 'v0' # {"$imagepolicy": "flux-system:app:tag"}
        b: "v0" # {"$imagepolicy": "flux-system:app:tag"}
        """
    )
    result = rewrite(text, policies)
    assert result.text == dedent(
        """\
        a: 'it''s"' # {"$imagepolicy": "flux-system:app:tag"}
        b: "it's\\"" # {"$imagepolicy": "flux-system:app:tag"}
        """
    )
    assert [m.value for m in find_markers(result.text)] == ["it's\"", "it's\""]


DEPLOYMENT = """\
# Web tier; the image is kept current by Flux image automation.
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web<trailing blanks>
  namespace: apps
  labels: {app: web, tier: "front"}

spec:
  replicas: 2 # keep two for the PDB
  template:
    spec:
      containers:
      - name: web
        image: ghcr.io/acme/app:1.2.1    # {"$imagepolicy": "flux-system:app"}
        args:   [ "--port",  '8080' ]   # not marked
      - name: proxy
        image: ghcr.io/acme/proxy:0.9 # pinned by hand

        # trailing comment, blank lines around it

...
""".replace("<trailing blanks>", " \t ")


def test_everything_outside_the_value_is_kept_byte_for_byte() -> None:
    result = rewrite(DEPLOYMENT, POLICIES, source_name="apps/web.yaml")
    expected = DEPLOYMENT.replace(
        "image: ghcr.io/acme/app:1.2.1    #", "image: ghcr.io/acme/app:1.3.0    #"
    )
    assert result.text == expected
    assert result.changes == (
        Change(
            16,
            APP,
            MarkerField.IMAGE,
            "ghcr.io/acme/app:1.2.1",
            "ghcr.io/acme/app:1.3.0",
            ObjectRef("apps/v1", "Deployment", "web", "apps"),
        ),
    )


def test_crlf_line_endings_stay() -> None:
    crlf = DEPLOYMENT.replace("\n", "\r\n")
    result = rewrite(crlf, POLICIES)
    assert result.text == crlf.replace("app:1.2.1", "app:1.3.0")
    assert "\n" not in result.text.replace("\r\n", "")
    assert [c.line for c in result.changes] == [16]


def test_mixed_line_endings_stay() -> None:
    text = 'a: 1\r\nb: app:1 # {"$imagepolicy": "flux-system:app"}\r\nc: 3\n'
    assert rewrite(text, POLICIES).text == (
        'a: 1\r\nb: ghcr.io/acme/app:1.3.0 # {"$imagepolicy": "flux-system:app"}\r\nc: 3\n'
    )


def test_no_final_newline_stays_so() -> None:
    text = 'image: app:1 # {"$imagepolicy": "flux-system:app"}'
    assert rewrite(text, POLICIES).text == (
        'image: ghcr.io/acme/app:1.3.0 # {"$imagepolicy": "flux-system:app"}'
    )


HELM_RELEASE = """\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: app
  namespace: apps
spec:
  values:
    image:
      repository: docker.io/acme/app # {"$imagepolicy": "flux-system:pinned:name"}
      tag: "1.2.1" # {"$imagepolicy": "flux-system:pinned:tag"}
      digest: sha256:0000 # {"$imagepolicy": "flux-system:pinned:digest"}
      pullPolicy: IfNotPresent
"""


def test_a_helm_release_with_name_tag_and_digest_markers() -> None:
    result = rewrite(HELM_RELEASE, POLICIES, source_name="apps/app.yaml")
    assert result.text == HELM_RELEASE.replace("docker.io/acme/app", "ghcr.io/acme/app").replace(
        '"1.2.1"', '"1.3.0"'
    ).replace("sha256:0000", DIGEST)
    release = ObjectRef("helm.toolkit.fluxcd.io/v2", "HelmRelease", "app", "apps")
    assert [(c.line, c.setter, c.old_value, c.new_value, c.object) for c in result.changes] == [
        (9, "flux-system:pinned:name", "docker.io/acme/app", "ghcr.io/acme/app", release),
        (10, "flux-system:pinned:tag", "1.2.1", "1.3.0", release),
        (11, "flux-system:pinned:digest", "sha256:0000", DIGEST, release),
    ]


def test_a_kustomization_images_entry() -> None:
    text = dedent(
        """\
        apiVersion: kustomize.config.k8s.io/v1beta1
        kind: Kustomization
        resources: [deployment.yaml]
        images:
          - name: app
            newName: ghcr.io/acme/app # {"$imagepolicy": "flux-system:app:name"}
            newTag: 1.2.1 # {"$imagepolicy": "flux-system:app:tag"}
        """
    )
    result = rewrite(text, POLICIES)
    assert result.text == text.replace("newTag: 1.2.1", "newTag: 1.3.0")
    assert [c.setter for c in result.changes] == ["flux-system:app:tag"]


def test_several_documents_and_policies() -> None:
    text = dedent(
        """\
        ---
        kind: A
        metadata: {name: a}
        image: ghcr.io/acme/app:1.0.0 # {"$imagepolicy": "flux-system:app"}
        --- # second
        kind: B
        metadata:
          name: b
        image: ghcr.io/acme/app:1.0.0 # {"$imagepolicy": "flux-system:pinned"}
        other: ghcr.io/acme/app:1.0.0 # {"$imagepolicy": "flux-system:app"}
        """
    )
    result = rewrite(text, POLICIES)
    assert result.text == dedent(
        f"""\
        ---
        kind: A
        metadata: {{name: a}}
        image: ghcr.io/acme/app:1.3.0 # {{"$imagepolicy": "flux-system:app"}}
        --- # second
        kind: B
        metadata:
          name: b
        image: ghcr.io/acme/app:1.3.0@{DIGEST} # {{"$imagepolicy": "flux-system:pinned"}}
        other: ghcr.io/acme/app:1.3.0 # {{"$imagepolicy": "flux-system:app"}}
        """
    )
    assert [(c.line, c.object.name if c.object else None) for c in result.changes] == [
        (4, "a"),
        (9, "b"),
        (10, "b"),
    ]


def test_flow_collections_keep_their_punctuation() -> None:
    text = dedent(
        """\
        args: [
          ghcr.io/acme/app:1, # {"$imagepolicy": "flux-system:app"}
          "1.0"   ,   # {"$imagepolicy": "flux-system:app:tag"}
          --verbose
        ]
        """
    )
    assert rewrite(text, POLICIES).text == dedent(
        """\
        args: [
          ghcr.io/acme/app:1.3.0, # {"$imagepolicy": "flux-system:app"}
          "1.3.0"   ,   # {"$imagepolicy": "flux-system:app:tag"}
          --verbose
        ]
        """
    )


def test_an_anchored_value_changes_once_for_all_its_aliases() -> None:
    text = dedent(
        """\
        base: &image ghcr.io/acme/app:1 # {"$imagepolicy": "flux-system:app"}
        copy: *image
        """
    )
    result = rewrite(text, POLICIES)
    assert result.text == text.replace("app:1 #", "app:1.3.0 #")
    assert len(result.changes) == 1


@pytest.mark.parametrize("text", [DEPLOYMENT, HELM_RELEASE, DEPLOYMENT.replace("\n", "\r\n")])
def test_rewriting_twice_changes_nothing_the_second_time(text: str) -> None:
    once = rewrite(text, POLICIES)
    twice = rewrite(once.text, POLICIES)
    assert once.changes
    assert twice.text == once.text
    assert twice.changes == ()


def test_current_values_are_left_exactly_as_written() -> None:
    text = dedent(
        """\
        a: 'ghcr.io/acme/app:1.3.0' # {"$imagepolicy": "flux-system:app"}
        b: !!str ghcr.io/acme/app:1.3.0 # {"$imagepolicy": "flux-system:app"}
        c: "1.3.0" # {"$imagepolicy": "flux-system:app:tag"}
        """
    )
    result = rewrite(text, POLICIES)
    assert result.text is text
    assert result.changes == ()


def test_text_without_markers_is_returned_as_is() -> None:
    text = "kind: ConfigMap\r\ndata: {a: b}\r\n"
    assert rewrite(text, POLICIES) == rewrite(text, {})
    assert rewrite(text, POLICIES).text is text


@pytest.mark.parametrize(
    ("head", "tail"),
    [
        ("\ufeff", ""),
        ("%YAML 1.1\n---\n", ""),
        ("---\n---\n", "...\n---\n"),
        ("x: &a\n  y:\n", "z: *a\n"),
    ],
)
def test_stream_syntax_around_the_value_stays(head: str, tail: str) -> None:
    marked = 'image: {} # {{"$imagepolicy": "flux-system:app"}}\n'
    text = head + marked.format("app:1") + tail
    assert rewrite(text, POLICIES).text == head + marked.format("ghcr.io/acme/app:1.3.0") + tail
