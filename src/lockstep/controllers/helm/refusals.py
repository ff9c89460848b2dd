"""The HelmRelease specs lockstep refuses, Stalled with a message naming the field: what
it does not act on yet (never ignored), and, with ``--no-cross-namespace-refs``,
references to other namespaces.

Called by :mod:`.release` before anything of the release is read or written.
"""

from __future__ import annotations

from lockstep.api.helm import HelmRelease
from lockstep.api.meta import ConditionReason
from lockstep.controllers.helm.reasons import UNSUPPORTED, helmrelease_name
from lockstep.controllers.shell import Failure


def refuse_unsupported(obj: HelmRelease) -> None:
    """Stalled, naming them, for the fields lockstep does not act on yet: never ignored."""
    spec = obj.spec
    install, upgrade = spec.install, spec.upgrade
    unsupported = [
        field
        for field, used in (
            (
                f"spec.chartRef to an {obj.chart_reference().kind}",
                obj.chart_reference().kind not in ("HelmChart", "OCIRepository"),
            ),
            (
                "spec.install.serverSideApply: false",
                bool(install and install.server_side_apply is False),
            ),
            (
                "spec.upgrade.serverSideApply other than enabled or auto",
                bool(upgrade and upgrade.server_side_apply not in (None, "enabled", "auto")),
            ),
            (
                "spec.upgrade.chartNameChangeStrategy: Reinstall",
                bool(upgrade and upgrade.chart_name_change_strategy == "Reinstall"),
            ),
            (
                "spec.waitStrategy: legacy",
                bool(spec.wait_strategy and spec.wait_strategy.name == "legacy"),
            ),
            (
                "spec.healthCheckExprs without kind",
                any(check.kind is None for check in spec.health_check_exprs),
            ),
        )
        if used
    ]
    if unsupported:
        raise Failure(
            UNSUPPORTED,
            f"{helmrelease_name(obj)}: {', '.join(unsupported)} not supported by lockstep yet; remove it "
            "or let Flux's helm-controller reconcile this HelmRelease",
            terminal=True,
        )


def refuse_foreign_references(obj: HelmRelease) -> None:
    """``--no-cross-namespace-refs``: the chart's source (or the chart object ``chartRef``
    names) and every ``dependsOn`` must be in the HelmRelease's namespace, as Flux's
    helm-controller requires with that flag; else AccessDenied, Stalled."""
    own = obj.metadata.namespace or ""
    foreign = []
    chart = obj.chart_reference()
    if chart.namespace != own:
        foreign.append(f"{chart.kind} {chart.namespace}/{chart.name}")
    foreign += [
        f"dependsOn {d.namespace}/{d.name}"
        for d in obj.spec.depends_on
        if d.namespace not in (None, own)
    ]
    if foreign:
        raise Failure(
            ConditionReason.ACCESS_DENIED,
            f"{helmrelease_name(obj)}: {foreign[0]} is in another namespace and cross-namespace references "
            "are disabled on this engine; move it to the HelmRelease's namespace",
            terminal=True,
        )
