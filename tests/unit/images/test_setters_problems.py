"""Markers that cannot be applied: each reported with its file, line and policy, and the
file left unchanged."""

from __future__ import annotations

from textwrap import dedent

import pytest

from lockstep.images.setters import (
    ImageRef,
    MarkerProblem,
    PolicyKey,
    SetterError,
    find_markers,
    rewrite,
)

APP = PolicyKey("flux-system", "app")
POLICIES = {APP: ImageRef("ghcr.io/acme/app", "1.3.0")}


def _problems(text: str, policies: dict[PolicyKey, ImageRef] | None = None) -> list[str]:
    with pytest.raises(SetterError) as raised:
        rewrite(text, POLICIES if policies is None else policies, source_name="apps/web.yaml")
    return [str(problem) for problem in raised.value.problems]


def test_a_missing_policy_names_the_file_line_and_policy() -> None:
    text = dedent(
        """\
        kind: Deployment
        spec:
          image: ghcr.io/acme/app:1.2.1 # {"$imagepolicy": "flux-system:app"}
          sidecar: ghcr.io/acme/proxy:0.9 # {"$imagepolicy": "flux-system:proxy"}
        """
    )
    with pytest.raises(SetterError) as raised:
        rewrite(text, POLICIES, source_name="apps/web.yaml")
    [problem] = raised.value.problems
    assert problem == MarkerProblem(
        4,
        "marker names ImagePolicy flux-system/proxy, which has no latest image: "
        "check the policy exists in the automation's namespace and is Ready",
        "apps/web.yaml",
        PolicyKey("flux-system", "proxy"),
    )
    assert str(raised.value) == (
        "apps/web.yaml:4: marker names ImagePolicy flux-system/proxy, which has no latest "
        "image: check the policy exists in the automation's namespace and is Ready"
    )
    # The markers that could be applied are not: the whole file waits.
    assert find_markers(text)[0].value == "ghcr.io/acme/app:1.2.1"


def test_every_problem_of_a_file_is_listed_in_order() -> None:
    text = dedent(
        """\
        a: x:1 # {"$imagepolicy": "ns:one"}
        b: x:1 # {"$imagepolicy": "flux-system:app"}
        c: x:1 # {"$imagepolicy": "ns:two:tag"}
        d: x:1 # {"$imagepolicy": "ns"}
        """
    )
    problems = _problems(text)
    assert [p.split(": ", 1)[0] for p in problems] == [
        "apps/web.yaml:1",
        "apps/web.yaml:3",
        "apps/web.yaml:4",
    ]
    assert "ns/one" in problems[0]
    assert "ns/two" in problems[1]
    assert "marker value" in problems[2]


def test_a_digest_marker_for_a_policy_without_digest() -> None:
    text = 'digest: sha256:00 # {"$imagepolicy": "flux-system:app:digest"}\n'
    assert _problems(text) == [
        "apps/web.yaml:1: marker asks for the digest of ImagePolicy flux-system/app, which has "
        "none: set spec.digestReflectionPolicy on the policy or drop the :digest marker"
    ]


@pytest.mark.parametrize(
    "setter",
    ['"app"', '"flux-system:"', '":app"', '"flux-system:app:version"', '"a:b:tag:x"', "1", "null"],
)
def test_malformed_marker_values(setter: str) -> None:
    text = f'image: app:1 # {{"$imagepolicy": {setter}}}\n'
    assert _problems(text) == [
        f"apps/web.yaml:1: marker value {setter} is not NAMESPACE:POLICY, "
        "optionally followed by :name, :tag or :digest"
    ]


@pytest.mark.parametrize(
    "comment",
    [
        '# {"$imagepolicy": "flux-system:app"',
        "# {'$imagepolicy': 'flux-system:app'}",
        '# {"$imagepolicy": "flux-system:app"} # was 1.2.0',
    ],
)
def test_marker_comments_that_are_not_json(comment: str) -> None:
    assert _problems(f"image: app:1 {comment}\n") == [
        'apps/web.yaml:1: marker comment is not a JSON object: write # {"$imagepolicy": '
        '"NAMESPACE:POLICY"}'
    ]


NOT_AFTER_VALUE = (
    "marker for ImagePolicy flux-system/app does not follow a value on its line: "
    "put it after the single-line value it sets"
)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('# {"$imagepolicy": "flux-system:app"}\nimage: app:1\n', 1),
        ('image: # {"$imagepolicy": "flux-system:app"}\n  name: app\n', 1),
        ('image:   # {"$imagepolicy": "flux-system:app"}\n', 1),
        ('containers: # {"$imagepolicy": "flux-system:app"}\n  - app:1\n', 1),
        ('image: {name: app, tag: "1"} # {"$imagepolicy": "flux-system:app"}\n', 1),
        ('args: [app:1, b] # {"$imagepolicy": "flux-system:app"}\n', 1),
        ('? app:1 # {"$imagepolicy": "flux-system:app"}\n: value\n', 1),
        ('a: 1\nb: &x [1, 2] # {"$imagepolicy": "flux-system:app"}\n', 2),
    ],
)
def test_markers_that_follow_no_value(text: str, line: int) -> None:
    assert _problems(text) == [f"apps/web.yaml:{line}: {NOT_AFTER_VALUE}"]


def test_a_marker_on_a_block_scalar_is_refused() -> None:
    text = dedent(
        """\
        spec:
          image: |-  # {"$imagepolicy": "flux-system:app"}
            ghcr.io/acme/app:1.2.1
          tag: >  # {"$imagepolicy": "flux-system:app:tag"}
            1.2.1
        """
    )
    assert _problems(text) == [
        "apps/web.yaml:2: marker for ImagePolicy flux-system/app is on a block scalar (| or >): "
        "write the value on one line after the key",
        "apps/web.yaml:4: marker for ImagePolicy flux-system/app is on a block scalar (| or >): "
        "write the value on one line after the key",
    ]


@pytest.mark.parametrize(
    "text",
    [
        'image: ghcr.io/acme\n  /app:1 # {"$imagepolicy": "flux-system:app"}\n',
        'image: "ghcr.io/acme\n  /app:1" # {"$imagepolicy": "flux-system:app"}\n',
    ],
)
def test_a_marker_after_a_value_over_several_lines_is_refused(text: str) -> None:
    assert _problems(text) == [
        "apps/web.yaml:2: marker for ImagePolicy flux-system/app follows a value written over "
        "several lines: write the value on one line"
    ]


def test_text_that_is_not_yaml_names_the_line() -> None:
    text = 'kind: A\nimage: app:1 # {"$imagepolicy": "flux-system:app"}\nbad: [unclosed\n'
    [problem] = _problems(text)
    assert problem.startswith("apps/web.yaml:4: not valid YAML (")
    assert problem.endswith("), so its image policy markers cannot be applied: fix the file")


def test_unreadable_characters_name_their_line() -> None:
    text = 'kind: A\nimage: app:1 # {"$imagepolicy": "flux-system:app"}\nbell: "\x07"\n'
    [problem] = _problems(text)
    assert problem.startswith("apps/web.yaml:3: not valid YAML (special characters")


def test_find_markers_reports_the_same_problems() -> None:
    with pytest.raises(SetterError, match=r"^line 1: marker value \"app\" is not"):
        find_markers('image: app:1 # {"$imagepolicy": "app"}\n')


def test_without_a_source_name_messages_start_with_the_line() -> None:
    problem = MarkerProblem(7, "something", policy=APP)
    assert str(problem) == "line 7: something"


@pytest.mark.parametrize(
    ("name", "tag", "digest"),
    [
        ("", "1.0", ""),
        ("ghcr.io/acme/app", "", ""),
        ("ghcr.io/acme/app", "1.0\n", ""),
        ("ghcr.io/acme app", "1.0", ""),
        ("ghcr.io/acme/app", "1.0", "sha256:\t00"),
    ],
)
def test_image_refs_must_be_writable_on_one_line(name: str, tag: str, digest: str) -> None:
    with pytest.raises(ValueError, match="image reference"):
        ImageRef(name, tag, digest)


def test_the_reference_form_of_an_image() -> None:
    assert str(ImageRef("ghcr.io/acme/app", "1.0")) == "ghcr.io/acme/app:1.0"
    assert str(ImageRef("ghcr.io/acme/app", "1.0", "sha256:00")) == "ghcr.io/acme/app:1.0@sha256:00"
