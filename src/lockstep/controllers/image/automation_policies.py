"""Which ImagePolicies an ImageUpdateAutomation applies, and which markers it leaves alone.

An automation applies the ImagePolicies of its own namespace that ``spec.policySelector``
selects (all of them when omitted) and that have elected an image: ``status.latestRef``,
or ``status.latestImage`` as v1beta2 writes it. Like Flux, it takes a policy's last
elected image whether or not the policy is Ready right now.

:func:`applied_policies` turns the listed ImagePolicies into the images the Setters
strategy writes and the ``status.observedPolicies`` of the automation.
:meth:`Policies.in_scope` tells the markers the automation answers for from those of
someone else: another namespace's, or a policy the selector leaves out or that has
elected nothing yet. Only a marker naming a policy that does not exist in the namespace
is the automation's to report.

Called by :mod:`lockstep.controllers.image.update`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from lockstep.api.image import ImagePolicy, ImageRef
from lockstep.api.meta import LabelSelector
from lockstep.apply.selector import parse_label_selector
from lockstep.images import setters
from lockstep.kube import KubeObject

LabelMatcher = Callable[[Mapping[str, str]], bool]


@dataclass(frozen=True)
class Policies:
    """The ImagePolicies an automation applies, and the ones it leaves to others."""

    namespace: str
    images: dict[tuple[str, str], setters.ImageRef]
    """The elected image of each applied policy, by ``(namespace, name)``."""

    observed: dict[str, ImageRef]
    """``status.observedPolicies``: the elected image of each applied policy, by name."""

    others: frozenset[str]
    """Policies of the namespace that exist but are not applied: unselected or not elected yet."""

    def in_scope(self, policy: setters.PolicyKey) -> bool:
        """Whether a marker naming `policy` is this automation's to apply or report."""
        return policy.namespace == self.namespace and policy.name not in self.others


def applied_policies(
    namespace: str, items: Sequence[KubeObject], selects: LabelMatcher
) -> Policies:
    """The policies among `items` (the ImagePolicies of `namespace`) that `selects` keeps
    and that have elected an image."""
    images: dict[tuple[str, str], setters.ImageRef] = {}
    observed: dict[str, ImageRef] = {}
    others: set[str] = set()
    for item in items:
        metadata = item.get("metadata") or {}
        name = str(metadata.get("name"))
        elected = elected_image(item) if selects(metadata.get("labels") or {}) else None
        if elected is None:
            others.add(name)
            continue
        images[(namespace, name)] = elected
        observed[name] = ImageRef(name=elected.name, tag=elected.tag, digest=elected.digest or None)
    return Policies(namespace, images, observed, frozenset(others))


def label_matcher(selector: LabelSelector | None) -> LabelMatcher:
    """Whether labels match `selector` (all do when it is None); raises ValueError, in
    one line, for a selector the API server would refuse too."""
    if selector is None:
        return lambda labels: True
    requirements = parse_label_selector(_selector_expression(selector))
    return lambda labels: all(requirement.matches(labels) for requirement in requirements)


def elected_image(policy: KubeObject) -> setters.ImageRef | None:
    """The image a policy elected: ``status.latestRef``, else v1beta2's ``latestImage``."""
    try:
        status = ImagePolicy.model_validate(policy).status
        if status is None:
            return None
        if status.latest_ref is not None:
            latest = status.latest_ref
            return setters.ImageRef(latest.name, latest.tag, latest.digest or "")
        if status.latest_image:
            return _parse_image(status.latest_image)
    except (ValidationError, ValueError):
        pass  # nothing usable elected: the policy's own status says why
    return None


def _selector_expression(selector: LabelSelector) -> str:
    """The selector in the string form ``a=b,c in (d,e),!f``, checked as the API server
    checks it: ``In`` and ``NotIn`` need values, ``Exists`` and ``DoesNotExist`` take none."""
    terms = [f"{key}={value}" for key, value in sorted(selector.match_labels.items())]
    for requirement in selector.match_expressions:
        key, values = requirement.key, ",".join(requirement.values)
        if requirement.operator in ("In", "NotIn"):
            if not requirement.values:
                raise ValueError(f"{requirement.operator} on {key} needs values")
            terms.append(f"{key} {requirement.operator.lower()} ({values})")
        elif requirement.values:
            raise ValueError(f"{requirement.operator} on {key} takes no values")
        else:
            terms.append(key if requirement.operator == "Exists" else f"!{key}")
    return ",".join(terms)


def _parse_image(image: str) -> setters.ImageRef:
    """``name:tag[@digest]``; the name may carry a registry port."""
    reference, _, digest = image.partition("@")
    name, colon, tag = reference.rpartition(":")
    if not colon or "/" in tag:
        raise ValueError(f"image {image!r} has no tag")
    return setters.ImageRef(name, tag, digest)
