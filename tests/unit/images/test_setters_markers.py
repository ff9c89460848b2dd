"""find_markers: which values carry a ``$imagepolicy`` marker, where, and for what."""

from __future__ import annotations

from textwrap import dedent

import pytest

from lockstep.images.setters import (
    Marker,
    MarkerField,
    ObjectRef,
    PolicyKey,
    find_markers,
)

APP = PolicyKey("flux-system", "app")


def _only(text: str) -> Marker:
    markers = find_markers(text)
    assert len(markers) == 1, markers
    return markers[0]


@pytest.mark.parametrize(
    ("setter", "field"),
    [
        ("flux-system:app", MarkerField.IMAGE),
        ("flux-system:app:tag", MarkerField.TAG),
        ("flux-system:app:name", MarkerField.NAME),
        ("flux-system:app:digest", MarkerField.DIGEST),
    ],
)
def test_each_marker_form_names_the_policy_and_the_part(setter: str, field: MarkerField) -> None:
    marker = _only(f'value: ghcr.io/acme/app:1.2.1 # {{"$imagepolicy": "{setter}"}}\n')
    assert (marker.policy, marker.field, marker.setter) == (APP, field, setter)
    assert marker.policy == ("flux-system", "app")


@pytest.mark.parametrize(
    ("line", "value", "quote", "written"),
    [
        ("image: ghcr.io/acme/app:1.2.1", "ghcr.io/acme/app:1.2.1", "", "ghcr.io/acme/app:1.2.1"),
        (
            "image: 'ghcr.io/acme/app:1.2.1'",
            "ghcr.io/acme/app:1.2.1",
            "'",
            "'ghcr.io/acme/app:1.2.1'",
        ),
        (
            'image: "ghcr.io/acme/app:1.2.1"',
            "ghcr.io/acme/app:1.2.1",
            '"',
            '"ghcr.io/acme/app:1.2.1"',
        ),
        ("tag: 'it''s'", "it's", "'", "'it''s'"),
        ('tag: "a\\"b"', 'a"b', '"', '"a\\"b"'),
        ("tag: 1.10", "1.10", "", "1.10"),
        ("tag: 'a #b'", "a #b", "'", "'a #b'"),
        ("image: &img ghcr.io/acme/app:1", "ghcr.io/acme/app:1", "", "ghcr.io/acme/app:1"),
        ("tag: !!str 1.10", "1.10", "", "1.10"),
        ("- ghcr.io/acme/app:1", "ghcr.io/acme/app:1", "", "ghcr.io/acme/app:1"),
        ("tag: v1   ", "v1", "", "v1"),
        ("tag:\tv1\t", "v1", "", "v1"),
        ("- \tv1", "v1", "", "v1"),
    ],
)
def test_the_span_is_the_value_as_written(line: str, value: str, quote: str, written: str) -> None:
    text = f'{line} # {{"$imagepolicy": "flux-system:app"}}\n'
    marker = _only(text)
    assert (marker.value, marker.quote) == (value, quote)
    assert text[marker.start : marker.end] == written


@pytest.mark.parametrize(
    "comment",
    [
        '# {"$imagepolicy": "flux-system:app:tag"}',
        '#{"$imagepolicy":"flux-system:app:tag"}',
        '#   {  "$imagepolicy"  :  "flux-system:app:tag"  }   ',
        '## {"$imagepolicy": "flux-system:app:tag"}',
        '# {"$imagepolicy": "flux-system:app:tag", "note": "pinned by the release team"}',
        '\t# {"$imagepolicy": "flux-system:app:tag"}',
    ],
)
def test_the_comment_is_json_with_free_spacing(comment: str) -> None:
    marker = _only(f"tag: 1.2.1 {comment}\n")
    assert (marker.policy, marker.field, marker.value) == (APP, MarkerField.TAG, "1.2.1")


def test_comments_that_only_mention_the_key_are_not_markers() -> None:
    text = dedent(
        """\
        # Values below are kept current by "$imagepolicy" markers.
        tag: 1.2.1 # see the $imagepolicy docs
        image: app:1 # image: app:0 # {"$imagepolicy": "flux-system:app"}
        other: x # {"note": "$imagepolicy"}
        """
    )
    assert find_markers(text) == []


def test_marker_text_inside_values_is_content_not_a_marker() -> None:
    text = dedent(
        """\
        kind: ConfigMap
        data:
          quoted: 'app:1 # {"$imagepolicy": "flux-system:app"}'
          double: "app:1 # {\\"$imagepolicy\\": \\"flux-system:app\\"}"
          values.yaml: |
            image: app:1 # {"$imagepolicy": "flux-system:app"}
          folded: >-
            # {"$imagepolicy": "flux-system:app"}
        """
    )
    assert find_markers(text) == []


def test_text_without_the_marker_key_is_not_even_parsed() -> None:
    assert find_markers("{{ .Values.image }}: [unclosed\n") == []


def test_lines_count_from_one_across_documents_and_crlf() -> None:
    text = (
        "---\r\n"
        "kind: A\r\n"
        'image: app:1 # {"$imagepolicy": "ns:a"}\r\n'
        "---\r\n"
        "\r\n"
        "kind: B\r\n"
        'image: app:2 # {"$imagepolicy": "ns:b"}\r\n'
    )
    assert [(m.line, m.policy.name, m.value) for m in find_markers(text)] == [
        (3, "a", "app:1"),
        (7, "b", "app:2"),
    ]


def test_each_marker_knows_its_object() -> None:
    text = dedent(
        """\
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: web
          namespace: apps
        spec:
          template:
            spec:
              containers:
                - name: web
                  image: ghcr.io/acme/web:1 # {"$imagepolicy": "flux-system:web"}
        ---
        apiVersion: helm.toolkit.fluxcd.io/v2
        kind: HelmRelease
        metadata:
          name: api
        spec:
          values:
            image:
              tag: "1" # {"$imagepolicy": "flux-system:api:tag"}
        ---
        images:
          - newTag: "1" # {"$imagepolicy": "flux-system:api:tag"}
        """
    )
    assert [m.object for m in find_markers(text)] == [
        ObjectRef("apps/v1", "Deployment", "web", "apps"),
        ObjectRef("helm.toolkit.fluxcd.io/v2", "HelmRelease", "api", ""),
        None,
    ]


def test_markers_in_lists_and_nested_values() -> None:
    text = dedent(
        """\
        spec:
          values:
            image:
              repository: ghcr.io/acme/app # {"$imagepolicy": "flux-system:app:name"}
              tag: 1.2.1 # {"$imagepolicy": "flux-system:app:tag"}
            sidecars:
              - ghcr.io/acme/proxy:0.9 # {"$imagepolicy": "flux-system:proxy"}
              - - ghcr.io/acme/deep:1 # {"$imagepolicy": "flux-system:deep"}
        """
    )
    assert [(m.line, m.setter, m.value) for m in find_markers(text)] == [
        (4, "flux-system:app:name", "ghcr.io/acme/app"),
        (5, "flux-system:app:tag", "1.2.1"),
        (7, "flux-system:proxy", "ghcr.io/acme/proxy:0.9"),
        (8, "flux-system:deep", "ghcr.io/acme/deep:1"),
    ]


def test_flow_collections_written_over_several_lines() -> None:
    text = dedent(
        """\
        args: [
          ghcr.io/acme/app:1, # {"$imagepolicy": "flux-system:app"}
          "--verbose",
          'ghcr.io/acme/proxy:2' # {"$imagepolicy": "flux-system:proxy"}
        ]
        image: {
          repository: ghcr.io/acme/app, # {"$imagepolicy": "flux-system:app:name"}
          tag: "1" # {"$imagepolicy": "flux-system:app:tag"}
        }
        """
    )
    assert [(m.line, m.setter, text[m.start : m.end]) for m in find_markers(text)] == [
        (2, "flux-system:app", "ghcr.io/acme/app:1"),
        (4, "flux-system:proxy", "'ghcr.io/acme/proxy:2'"),
        (7, "flux-system:app:name", "ghcr.io/acme/app"),
        (8, "flux-system:app:tag", '"1"'),
    ]


def test_an_aliased_value_is_one_marker_at_its_anchor() -> None:
    text = dedent(
        """\
        base: &image ghcr.io/acme/app:1 # {"$imagepolicy": "flux-system:app"}
        copy: *image
        """
    )
    marker = _only(text)
    assert (marker.line, text[marker.start : marker.end]) == (1, "ghcr.io/acme/app:1")
