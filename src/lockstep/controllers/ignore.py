"""Flux's ignore rules (``paths`` and a ``target`` selector) as the apply engine's.

A Kustomization's ``spec.ignore`` and a HelmRelease's ``spec.driftDetection.ignore``
name fields to leave alone the same way; both reconcilers turn them into
:class:`lockstep.apply.IgnoreRule` here.
"""

from __future__ import annotations

from collections.abc import Sequence

from lockstep.api.kustomize import DriftIgnoreRule
from lockstep.apply import IgnoreRule, Selector


def apply_ignore_rules(rules: Sequence[DriftIgnoreRule]) -> tuple[IgnoreRule, ...]:
    """``rules`` for the apply engine; raises ValueError naming a bad pointer or selector."""
    return tuple(
        IgnoreRule(
            rule.paths,
            Selector(**{k: v or "" for k, v in rule.target.model_dump(by_alias=False).items()})
            if rule.target
            else None,
        )
        for rule in rules
    )
