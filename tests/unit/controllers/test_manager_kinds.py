"""The manager runs a controller for exactly the kinds the kind table marks reconciled."""

from __future__ import annotations

from lockstep.api.kinds import RECONCILED_KINDS
from lockstep.controllers.manager import RECONCILERS


def test_the_manager_runs_the_reconciled_kinds_at_their_storage_versions() -> None:
    run = sorted((reconciler.kind, reconciler.api_version) for reconciler in RECONCILERS)

    assert run == sorted((info.kind, info.api_version) for info in RECONCILED_KINDS)
