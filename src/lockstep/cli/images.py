"""``lockstep image policy test``: which tag an ImagePolicy would elect, without a cluster.

The flags spell an ImagePolicy's ``spec.policy`` and ``spec.filterTags``; they are
read by the same :func:`~lockstep.images.policy.policy_from_spec` and
:func:`~lockstep.images.policy.select_tag` as the ImagePolicy controller uses, so
the answer is the one the controller would give for those tags. The elected tag
is printed alone on stdout, for scripts. Exit codes: 0 a tag was elected, 1 none
qualifies (the reason on stderr), 2 the flags do not make a policy.

Registered on the ``lockstep`` command by :mod:`lockstep.cli.main`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, TextIO

import typer

from lockstep.cli.context import UserError
from lockstep.cli.objects import USAGE_ERROR
from lockstep.images.policy import InvalidPolicyError, policy_from_spec, select_tag

image_app = typer.Typer(help="Work with image automation policies.", no_args_is_help=True)
policy_app = typer.Typer(help="Work with ImagePolicy rules.", no_args_is_help=True)
image_app.add_typer(policy_app, name="policy")


class Order(StrEnum):
    ASC = "asc"
    DESC = "desc"


_FLAGS_OF_FIELDS = {
    "spec.policy.semver.range": "--range",
    "spec.filterTags.pattern": "--filter-regex",
    "spec.filterTags": "--filter-regex",
}
"""The spec fields the policy library names in its messages, and the flags that set them."""


@policy_app.command("test")
def try_policy(
    semver_range: Annotated[
        str | None,
        typer.Option("--range", help="Elect the highest version within this semver range."),
    ] = None,
    alphabetical: Annotated[
        Order | None,
        typer.Option(
            "--alphabetical",
            help="Elect by alphabetical order: asc the last tag, desc the first.",
            case_sensitive=False,
        ),
    ] = None,
    numerical: Annotated[
        Order | None,
        typer.Option(
            "--numerical",
            help="Elect by number: asc the highest, desc the lowest.",
            case_sensitive=False,
        ),
    ] = None,
    filter_regex: Annotated[
        str | None,
        typer.Option(
            "--filter-regex", help="Consider only the tags this regular expression matches."
        ),
    ] = None,
    filter_extract: Annotated[
        str | None,
        typer.Option(
            "--filter-extract",
            help="Compare what this template (e.g. $version) makes of --filter-regex's groups.",
        ),
    ] = None,
    tags: Annotated[
        list[str] | None,
        typer.Option("--tags", help="The tags to choose from, comma-separated; may be repeated."),
    ] = None,
    tags_from: Annotated[
        typer.FileText | None,
        typer.Option(
            "--tags-from",
            metavar="FILE",
            help="Read the tags from this file, one a line; - for stdin.",
        ),
    ] = None,
) -> None:
    """Print the tag an ImagePolicy with these rules would elect among the given tags.

    Exits 1 with the reason when no tag qualifies, 2 when the rules are malformed.
    Semver ranges follow Flux's rules: ^1.2.x admits every 1.y.z from 1.2.0.

    Examples:

      lockstep image policy test --range '^1.2.x' --tags 1.2.0,1.2.5,1.3.0

      lockstep image policy test --numerical asc --filter-regex '^build-(?P<number>.*)' \\
        --filter-extract '$number' --tags-from tags.txt
    """
    spec = policy_spec(semver_range, alphabetical, numerical, filter_regex, filter_extract)
    try:
        policy = policy_from_spec(spec)
    except InvalidPolicyError as error:
        raise UserError(_in_flag_terms(str(error)), code=USAGE_ERROR) from error
    selection = select_tag(_tags(tags, tags_from), policy)
    if selection.tag is None:
        raise UserError(_in_flag_terms(selection.reason))
    typer.echo(selection.tag)


def policy_spec(
    semver_range: str | None,
    alphabetical: Order | None,
    numerical: Order | None,
    filter_regex: str | None,
    filter_extract: str | None,
) -> dict[str, Any]:
    """The ``spec.policy`` and ``spec.filterTags`` of an ImagePolicy the flags describe."""
    rules: dict[str, dict[str, str]] = {}
    if semver_range is not None:
        rules["semver"] = {"range": semver_range}
    if alphabetical is not None:
        rules["alphabetical"] = {"order": alphabetical.value}
    if numerical is not None:
        rules["numerical"] = {"order": numerical.value}
    if len(rules) != 1:
        raise UserError(
            "give exactly one of --range, --alphabetical and --numerical",
            hint="lockstep image policy test --range '^1.2.x' --tags 1.2.0,1.3.0",
            code=USAGE_ERROR,
        )
    spec: dict[str, Any] = {"policy": rules}
    if filter_extract is not None and filter_regex is None:
        raise UserError(
            "--filter-extract needs --filter-regex, whose groups it refers to", code=USAGE_ERROR
        )
    if filter_regex is not None:
        spec["filterTags"] = {"pattern": filter_regex, "extract": filter_extract or ""}
    return spec


def _tags(listed: list[str] | None, source: TextIO | None) -> list[str]:
    if (listed is None) == (source is None):
        raise UserError(
            "give the tags with either --tags or --tags-from",
            hint="--tags 1.2.0,1.3.0, or --tags-from - to read them from stdin, one a line",
            code=USAGE_ERROR,
        )
    if source is not None:
        return [line.strip() for line in source if line.strip()]
    return [tag.strip() for value in listed or [] for tag in value.split(",") if tag.strip()]


def _in_flag_terms(message: str) -> str:
    """A message of the policy library, with the spec fields it names replaced by the flags."""
    for field, flag in _FLAGS_OF_FIELDS.items():
        message = message.replace(field, flag)
    return message
