"""``lockstep image policy test``: the tag an ImagePolicy would elect, and the exit codes.

Run in process through Typer's runner: the `UserError` a command raises is what
``lockstep`` turns into one line on stderr and the exit code it carries.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from lockstep.cli.context import UserError
from lockstep.cli.main import app


def elected(*args: str, stdin: str | None = None) -> str:
    result = CliRunner().invoke(app, ["image", "policy", "test", *args], input=stdin)
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def refused(*args: str) -> UserError:
    result = CliRunner().invoke(app, ["image", "policy", "test", *args])
    assert isinstance(result.exception, UserError), (result.exit_code, result.output)
    assert "\n" not in str(result.exception)
    return result.exception


def test_a_caret_range_elects_the_highest_minor_as_flux_does() -> None:
    assert elected("--range", "^1.2.x", "--tags", "1.2.0,1.2.5,1.3.0") == "1.3.0\n"


def test_a_tilde_range_keeps_the_minor() -> None:
    assert elected("--range", "~1.2", "--tags", "1.2.0", "--tags", "1.2.5, 1.3.0") == "1.2.5\n"


@pytest.mark.parametrize(
    ("order", "tag"), [("asc", "c"), ("desc", "a"), ("DESC", "a")], ids=["asc", "desc", "upper"]
)
def test_alphabetical_order(order: str, tag: str) -> None:
    assert elected("--alphabetical", order, "--tags", "b,c,a") == f"{tag}\n"


def test_numerical_order_compares_numbers_not_text() -> None:
    assert elected("--numerical", "asc", "--tags", "9,10,2") == "10\n"
    assert elected("--numerical", "desc", "--tags", "9,10,2") == "2\n"


def test_filter_and_extract_compare_the_extracted_value_and_elect_the_tag() -> None:
    args = ["--numerical", "asc", "--filter-regex", r"^main-[a-f0-9]+-(?P<ts>\d+)$"]
    tags = "main-aaa-100,main-bbb-99,latest,feature-ccc-500"
    assert elected(*args, "--filter-extract", "$ts", "--tags", tags) == "main-aaa-100\n"


def test_tags_are_read_one_a_line_from_stdin(tmp_path: Path) -> None:
    assert (
        elected("--range", ">=1.0.0", "--tags-from", "-", stdin="1.0.0\n\n 1.4.2 \n") == "1.4.2\n"
    )
    listed = tmp_path / "tags.txt"
    listed.write_text("v2.0.0\nv2.1.0\n")
    assert elected("--range", "2.x", "--tags-from", str(listed)) == "v2.1.0\n"


def test_no_qualifying_tag_exits_1_with_the_reason() -> None:
    error = refused("--range", "^2.0.0", "--tags", "1.2.0,1.3.0")
    assert error.code == 1
    assert str(error) == "no tag matches the semver range '^2.0.0' (latest: 1.3.0)"


def test_reasons_name_the_flags_rather_than_the_spec_fields() -> None:
    error = refused("--alphabetical", "asc", "--filter-regex", "^v", "--tags", "1.0,2.0")
    assert str(error) == "none of the 2 tags matches --filter-regex '^v'"
    assert "--filter-regex" in str(refused("--numerical", "asc", "--tags", "1,beta"))


def test_a_malformed_range_exits_2_in_one_line() -> None:
    error = refused("--range", "^1.2.y", "--tags", "1.2.0")
    assert error.code == 2
    assert str(error).startswith("--range: semver range '^1.2.y' is invalid:")


@pytest.mark.parametrize(
    "args",
    [
        ["--tags", "1.0.0"],
        ["--range", "1.x", "--alphabetical", "asc", "--tags", "1.0.0"],
        ["--range", "1.x"],
        ["--range", "1.x", "--tags", "1.0.0", "--tags-from", "-"],
        ["--alphabetical", "asc", "--filter-extract", "$1", "--tags", "a"],
        ["--alphabetical", "asc", "--filter-regex", "(", "--tags", "a"],
    ],
    ids=["no rule", "two rules", "no tags", "two tag sources", "extract alone", "bad regex"],
)
def test_flags_that_make_no_policy_exit_2(args: list[str]) -> None:
    assert refused(*args).code == 2


def test_an_unknown_order_is_a_usage_error() -> None:
    result = CliRunner().invoke(
        app, ["image", "policy", "test", "--numerical", "up", "--tags", "1"]
    )
    assert result.exit_code == 2


def test_help_has_an_example() -> None:
    result = CliRunner().invoke(app, ["image", "policy", "test", "--help"])
    assert result.exit_code == 0
    assert "Example" in result.stdout
