"""The ImageUpdateAutomation controller: the images ImagePolicies elect, committed to Git.

Every ``spec.interval`` (and at once for a new object, a spec change, a
``reconcile.fluxcd.io/requestedAt``, or a policy of its namespace electing another
image), :class:`ImageUpdateAutomationReconciler` runs one straight pipeline:

1. the GitRepository ``spec.sourceRef`` names: its URL, credentials and time limit;
   ``git.checkout.ref``, else the repository's own ref; the push branch, else the
   checkout branch;
2. the ImagePolicies it applies (:mod:`lockstep.controllers.image.automation_policies`);
3. when neither their images, nor the spec, nor the checked-out commit changed since
   the last run, and no other branch or refspec is pushed to, nothing more: one ref
   advertisement per interval;
4. otherwise, in a thread and a scratch folder removed afterwards, clone, apply the
   Setters strategy to ``update.path`` (:mod:`lockstep.images.update`), render the
   commit message (:mod:`lockstep.images.message`), commit and push
   (:mod:`lockstep.sources.git_push`, which refetches and reapplies when the branch
   moved meanwhile). No change, no commit.

Status as Flux reports it: ``lastAutomationRunTime`` after each completed run,
``lastPushCommit`` and ``lastPushTime`` after a push, ``observedPolicies`` and
``observedSourceRevision`` (``<branch>@sha1:<hex>``, the pushed commit when pushed to
the checkout branch). Ready is True with "repository up-to-date", or False with the
failing stage's reason: ``AccessDenied``, ``InvalidSourceConfiguration`` and
``InvalidPolicySelector`` (Stalled), ``SourceManagerFailed`` for a missing
GitRepository or Secret, ``GitOperationFailed``, and ``UpdateFailed`` for markers that
cannot be applied: their files, named with the line, stay unchanged while the other
files are still committed. A push is told in a Normal event with the commit message,
as Flux tells it; a failure in a Warning event, once.

Runs in the one reconciler shell (:mod:`lockstep.controllers.shell`), on the
ImageUpdateAutomation informer of the controller manager.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

from pydantic import ValidationError

from lockstep.api import kinds
from lockstep.api.conditions import find_condition
from lockstep.api.image import (
    GitUpdate,
    ImageRef,
    ImageUpdateAutomation,
    ImageUpdateAutomationStatus,
)
from lockstep.api.meta import (
    RECONCILE_REQUEST_ANNOTATION,
    ApiObject,
    ConditionReason,
    ConditionType,
    duration_seconds,
)
from lockstep.api.source import GitRepository
from lockstep.controllers.image.automation_policies import Policies, applied_policies, label_matcher
from lockstep.controllers.shell import Event, Failure, Ready, ReconcilerShell
from lockstep.egress import OPEN, Egress
from lockstep.images.message import TemplateError, render_commit_message
from lockstep.images.update import TreeUpdate, UpdatePathError, update_tree
from lockstep.kube import KubeClient, KubeError, KubeObject, NotFound, ObjectRef
from lockstep.runtime.informer import ObjectCache, ObjectKey
from lockstep.runtime.secrets import SecretUnavailable, secret_data
from lockstep.sources import errors
from lockstep.sources.credentials import GitAuth, auth_from_secret
from lockstep.sources.git import DEFAULT_TIMEOUT_SECONDS, resolve_ref
from lockstep.sources.git_push import (
    DEFAULT_PUSH_ATTEMPTS,
    Author,
    CommitSigner,
    PushOptions,
    UpdateResult,
    update_and_push,
)
from lockstep.sources.refs import DEFAULT_BRANCH, GitRef

_log = logging.getLogger(__name__)

KIND = "ImageUpdateAutomation"
API_VERSION = kinds.IMAGE_UPDATE_AUTOMATION.api_version
POLICY_API_VERSION = kinds.IMAGE_POLICY.api_version
SOURCE_API_VERSION = kinds.GIT_REPOSITORY.api_version

READY_MESSAGE = "repository up-to-date"
"""Message of Ready=True after every successful run, as Flux writes it."""

INVALID_SOURCE_CONFIGURATION = "InvalidSourceConfiguration"
"""Reason of Ready=False and Stalled: no ``spec.git``, or no branch to push to."""

INVALID_POLICY_SELECTOR = "InvalidPolicySelector"
"""Reason of Ready=False and Stalled: ``spec.policySelector`` cannot be read."""

SOURCE_MANAGER_FAILED = "SourceManagerFailed"
"""Reason of Ready=False while the GitRepository, a Secret or its data cannot be used."""

GIT_OPERATION_FAILED = "GitOperationFailed"
"""Reason of Ready=False when cloning, committing or pushing failed."""

UPDATE_FAILED = "UpdateFailed"
"""Reason of Ready=False when markers cannot be applied or ``update.path`` is missing."""


@dataclass(frozen=True)
class AutomationOptions:
    """How ``lockstep run`` runs the automations."""

    no_cross_namespace_refs: bool = False
    """Refuse a ``spec.sourceRef`` in another namespace (``--no-cross-namespace-refs``)."""

    push_attempts: int = DEFAULT_PUSH_ATTEMPTS
    """Pushes tried in one run when the branch keeps moving."""

    egress: Egress = OPEN
    """Which hosts the Git repository may be on (``--block-internal-addresses``)."""


@dataclass(frozen=True)
class Target:
    """Where and how one automation commits: the GitRepository's remote and the push settings."""

    url: str
    auth: GitAuth | None
    timeout: float
    push: PushOptions
    switches_branch: bool
    """Whether the push branch differs from the checkout branch."""


@dataclass(frozen=True)
class Run:
    """What a run found and did, for the status."""

    source_revision: str
    """``observedSourceRevision``: the checked-out commit, or the commit pushed onto it."""

    observed: dict[str, ImageRef]
    result: UpdateResult | None = None
    """None when the run stopped at the ref advertisement: nothing changed."""

    problems: tuple[str, ...] = ()
    """Why some files were left unchanged, each naming its file and line."""


def automation_name(automation: ImageUpdateAutomation) -> str:
    return f"{KIND} {automation.metadata.namespace}/{automation.metadata.name}"


class ImageUpdateAutomationReconciler(
    ReconcilerShell[ImageUpdateAutomation, ImageUpdateAutomationStatus]
):
    """Runs each ImageUpdateAutomation every interval: update the files, commit, push."""

    kind: ClassVar[str] = KIND
    api_version: ClassVar[str] = API_VERSION
    name: ClassVar[str] = "imageupdateautomation"
    model = ImageUpdateAutomation
    status_model = ImageUpdateAutomationStatus

    def __init__(
        self,
        kube: KubeClient,
        cache: ObjectCache,
        scratch: Path,
        options: AutomationOptions | None = None,
    ) -> None:
        """``scratch`` holds the clones while they run; the manager empties it at start."""
        super().__init__(kube, cache)
        self._scratch = scratch
        self._options = options or AutomationOptions()

    def in_namespace(self, namespace: str) -> list[ObjectKey]:
        """The automations of `namespace`: any of them may apply a policy of it."""
        keys = []
        for obj in self._cache.items():
            metadata = obj.get("metadata") or {}
            if metadata.get("namespace") == namespace:
                keys.append((namespace, str(metadata.get("name"))))
        return keys

    async def pipeline(
        self, obj: ImageUpdateAutomation, status: ImageUpdateAutomationStatus
    ) -> Ready:
        """Run, and report the run. A push is told in an event with its commit message, as
        Flux tells it, and stands for a recovery."""
        run = await self._run(obj, obj.status or ImageUpdateAutomationStatus())
        _record(status, run)
        pushed = run.result.pushed if run.result else None
        events: tuple[Event, ...] = ()
        if pushed is not None:
            summary = f"pushed commit '{pushed.commit[:7]}' to branch '{pushed.branch}'"
            if pushed.refspec:
                summary += f" and refspecs '{pushed.refspec}'"
            events = (("Normal", "Succeeded", f"{summary}\n{pushed.message}"),)
        if run.problems:
            raise Failure(UPDATE_FAILED, _problems_message(obj, run.problems), events=events)
        return Ready(READY_MESSAGE, events)

    async def _run(
        self, automation: ImageUpdateAutomation, stored: ImageUpdateAutomationStatus
    ) -> Run:
        """The pipeline; raises :class:`Failure` for every failure a user should see."""
        git = _git_spec(automation)
        repository = await self._git_repository(automation)
        target = await self._target(automation, git, repository)
        policies = await self._policies(automation)
        if _may_skip(automation, stored, target, policies):
            revision = await self._remote_revision(automation, target)
            if revision == stored.observed_source_revision:
                _log.debug(
                    "%s: %s and the policies are unchanged", automation_name(automation), revision
                )
                return Run(revision, policies.observed)
        return await asyncio.to_thread(self._update, automation, git, target, policies)

    def _update(
        self,
        automation: ImageUpdateAutomation,
        git: GitUpdate,
        target: Target,
        policies: Policies,
    ) -> Run:
        """Clone, rewrite, commit and push, in a scratch folder (blocking: run in a thread)."""
        namespace, name = automation.metadata.namespace or "", automation.metadata.name
        commit = git.commit
        updates: list[TreeUpdate] = []

        def apply_setters(tree: Path) -> str | None:
            update = update_tree(
                tree, automation.spec.update.path, policies.images, in_scope=policies.in_scope
            )
            updates.append(update)
            if not update.changes:
                return None
            return render_commit_message(
                commit.message_template,
                automation=(namespace, name),
                changes=update.changes,
                values=commit.message_template_values,
            )

        with tempfile.TemporaryDirectory(prefix="automation-", dir=self._scratch) as work:
            try:
                result = update_and_push(
                    target.url,
                    target.push,
                    Path(work),
                    apply_setters,
                    target.auth,
                    target.timeout,
                    self._options.egress,
                )
            except errors.SourceError as error:
                raise Failure(
                    GIT_OPERATION_FAILED, f"{automation_name(automation)}: {error}"
                ) from error
            except UpdatePathError as error:
                raise Failure(UPDATE_FAILED, f"{automation_name(automation)}: {error}") from error
            except TemplateError as error:
                raise Failure(
                    GIT_OPERATION_FAILED,
                    f"{automation_name(automation)}: spec.git.commit.messageTemplate: {error}",
                    terminal=True,
                ) from error
        update = updates[-1]
        if update.skipped:
            _log.info(
                "%s: skipped files that are not YAML: %s",
                automation_name(automation),
                ", ".join(update.skipped),
            )
        revision = result.source.revision
        if result.pushed is not None and not result.switched_branch:
            revision = result.pushed.revision
        problems = tuple(str(problem) for problem in update.problems)
        return Run(revision, policies.observed, result, problems)

    async def _git_repository(self, automation: ImageUpdateAutomation) -> GitRepository:
        source = automation.spec.source_ref
        own = automation.metadata.namespace or ""
        namespace = source.namespace or own
        if self._options.no_cross_namespace_refs and namespace != own:
            raise Failure(
                ConditionReason.ACCESS_DENIED,
                f"{automation_name(automation)}: cannot use GitRepository {namespace}/"
                f"{source.name}, cross-namespace references are blocked by "
                "--no-cross-namespace-refs; use a GitRepository in the automation's namespace",
                terminal=True,
            )
        ref = ObjectRef(SOURCE_API_VERSION, "GitRepository", source.name, namespace)
        obj = await self._get(automation, ref, "spec.sourceRef")
        try:
            return GitRepository.model_validate(obj)
        except ValidationError as error:
            raise Failure(
                SOURCE_MANAGER_FAILED,
                f"{automation_name(automation)}: GitRepository {namespace}/{source.name} is "
                f"invalid ({error.errors()[0]['msg']}); correct it",
            ) from error

    async def _target(
        self, automation: ImageUpdateAutomation, git: GitUpdate, repository: GitRepository
    ) -> Target:
        """The remote and push settings, with the credentials and signing key they need."""
        spec = repository.spec
        checkout = GitRef.from_spec(git.checkout.ref if git.checkout else spec.ref)
        push = git.push
        branch = (push.branch if push else None) or checkout.branch
        if not branch:
            raise Failure(
                INVALID_SOURCE_CONFIGURATION,
                f"{automation_name(automation)}: no branch to push to, as {checkout.describe()} "
                "is checked out; set spec.git.push.branch or a branch in spec.git.checkout.ref",
                terminal=True,
            )
        try:
            auth = await self._auth(automation, repository)
            signer = await self._signer(automation, git)
        except errors.SourceError as error:
            raise Failure(
                SOURCE_MANAGER_FAILED, f"{automation_name(automation)}: {error}"
            ) from error
        author = git.commit.author
        options = PushOptions(
            checkout=checkout,
            branch=branch,
            author=Author(author.email, author.name),
            signer=signer,
            refspec=(push.refspec if push else None) or None,
            push_options=dict(push.options) if push else {},
            attempts=self._options.push_attempts,
        )
        # As Flux compares them: nothing checked out means the default branch.
        checkout_branch = checkout.branch or (DEFAULT_BRANCH if checkout == GitRef() else None)
        timeout = duration_seconds(spec.timeout) if spec.timeout else DEFAULT_TIMEOUT_SECONDS
        return Target(spec.url, auth, timeout, options, switches_branch=branch != checkout_branch)

    async def _auth(
        self, automation: ImageUpdateAutomation, repository: GitRepository
    ) -> GitAuth | None:
        """The credentials of the GitRepository's ``spec.secretRef``, read as it reads them."""
        secret_ref = repository.spec.secret_ref
        if secret_ref is None:
            return None
        data = await self._secret(automation, repository, secret_ref.name, "spec.secretRef")
        return auth_from_secret(data, repository.spec.url)

    async def _signer(
        self, automation: ImageUpdateAutomation, git: GitUpdate
    ) -> CommitSigner | None:
        if git.commit.signing_key is None:
            return None
        name = git.commit.signing_key.secret_ref.name
        field = "spec.git.commit.signingKey.secretRef"
        data = await self._secret(automation, automation, name, field)
        return CommitSigner.from_secret(data, f"{automation.metadata.namespace}/{name}")

    async def _policies(self, automation: ImageUpdateAutomation) -> Policies:
        namespace = automation.metadata.namespace or ""
        try:
            selects = label_matcher(automation.spec.policy_selector)
        except ValueError as error:
            raise Failure(
                INVALID_POLICY_SELECTOR,
                f"{automation_name(automation)}: spec.policySelector is invalid: {error}; "
                "correct it",
                terminal=True,
            ) from error
        try:
            items = await self._kube.list(POLICY_API_VERSION, "ImagePolicy", namespace=namespace)
        except KubeError as error:
            raise Failure(
                SOURCE_MANAGER_FAILED,
                f"{automation_name(automation)}: cannot list ImagePolicies: {error}",
            ) from error
        return applied_policies(namespace, items, selects)

    async def _remote_revision(self, automation: ImageUpdateAutomation, target: Target) -> str:
        try:
            resolved = await asyncio.to_thread(
                resolve_ref, target.url, target.push.checkout, target.auth, target.timeout
            )
        except errors.SourceError as error:
            raise Failure(
                GIT_OPERATION_FAILED, f"{automation_name(automation)}: {error}"
            ) from error
        return resolved.revision

    async def _secret(
        self, automation: ImageUpdateAutomation, owner: ApiObject, name: str, field: str
    ) -> dict[str, bytes]:
        """The data of the Secret ``name`` that ``field`` of ``owner`` names."""
        try:
            return await secret_data(self._kube, owner, name, field)
        except SecretUnavailable as error:
            raise Failure(
                SOURCE_MANAGER_FAILED, f"{automation_name(automation)}: {error}"
            ) from error
        except KubeError as error:
            raise Failure(
                SOURCE_MANAGER_FAILED,
                f"{automation_name(automation)}: cannot read Secret "
                f"{owner.metadata.namespace}/{name}: {error}",
            ) from error

    async def _get(
        self, automation: ImageUpdateAutomation, ref: ObjectRef, field: str
    ) -> KubeObject:
        try:
            return await self._kube.get(ref)
        except NotFound as error:
            raise Failure(
                SOURCE_MANAGER_FAILED,
                f"{automation_name(automation)}: {ref.kind} {ref.namespace}/{ref.name} named in "
                f"{field} does not exist; create it",
            ) from error
        except KubeError as error:
            raise Failure(
                SOURCE_MANAGER_FAILED,
                f"{automation_name(automation)}: cannot read {ref.kind} {ref.namespace}/{ref.name}: {error}",
            ) from error


def _git_spec(automation: ImageUpdateAutomation) -> GitUpdate:
    if automation.spec.git is None:
        raise Failure(
            INVALID_SOURCE_CONFIGURATION,
            f"{automation_name(automation)}: a GitRepository source needs spec.git; set "
            "spec.git.commit.author.email at least",
            terminal=True,
        )
    return automation.spec.git


def _may_skip(
    automation: ImageUpdateAutomation,
    stored: ImageUpdateAutomationStatus,
    target: Target,
    policies: Policies,
) -> bool:
    """Whether the last run's outcome stands as long as the checked-out commit is the same:
    it succeeded for this spec and these images, and pushed to the branch it read.

    Another push branch or a refspec could have been changed by someone else, so those
    always run in full, as in Flux; so does a reconcile request.
    """
    ready = find_condition(stored.conditions, ConditionType.READY)
    requested = automation.metadata.annotations.get(RECONCILE_REQUEST_ANNOTATION)
    return (
        ready is not None
        and ready.status == "True"
        and stored.observed_generation == automation.metadata.generation
        and stored.observed_source_revision is not None
        and stored.observed_policies == policies.observed
        and requested == stored.last_handled_reconcile_at
        and not target.switches_branch
        and not target.push.refspec
    )


def _record(status: ImageUpdateAutomationStatus, run: Run) -> ImageUpdateAutomationStatus:
    now = datetime.now(UTC)
    status.last_automation_run_time = now
    pushed = run.result.pushed if run.result else None
    if pushed is not None:
        status.last_push_commit = pushed.commit
        status.last_push_time = now
    if not run.problems:
        # Only a complete run is a base to skip the next ones from.
        status.observed_source_revision = run.source_revision
        status.observed_policies = run.observed
    return status


def _problems_message(automation: ImageUpdateAutomation, problems: tuple[str, ...]) -> str:
    return (
        f"{automation_name(automation)}: image policy markers cannot be applied, so their "
        f"files are left unchanged: {'; '.join(problems)}"
    )
