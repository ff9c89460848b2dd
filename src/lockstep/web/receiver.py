"""The webhook server of ``lockstep run`` (``--receiver-addr``): Flux's Receiver endpoint.

``POST /hook/<digest>`` finds the Receiver whose ``status.webhookPath`` is the path,
authenticates the call the way its ``spec.type`` says, and on success asks the
receiver controller to reconcile ``spec.resources`` at once:

==============  ===============================================================
type            a call is authentic when
==============  ===============================================================
generic         it reaches the path (the path itself is derived from the token)
generic-hmac    ``X-Signature`` is ``sha1=``, ``sha256=`` or ``sha512=`` and the
                hex HMAC of the body keyed with the token
github          ``X-Hub-Signature-256`` is ``sha256=`` and that HMAC; a ``ping``
                event is answered and triggers nothing
gitlab          ``X-Gitlab-Token`` is the token
==============  ===============================================================

GitHub and GitLab events (``X-GitHub-Event``, ``X-Gitlab-Event``) not listed in
``spec.events`` are answered 200 and trigger nothing; an empty list takes every event.
Other answers: 401 for a wrong signature or token, 404 for a path no Receiver has,
413 for a body over :data:`MAX_BODY_BYTES`, 503 while the Receiver is suspended or
not ready (or the controllers are not running here), 500 when an object could not be
annotated. Each call is logged on one line; the token never is. Signatures and tokens
are compared in constant time.

Started by :mod:`lockstep.cli.run`; the Receiver side is
:class:`lockstep.controllers.notification.receiver.Webhooks`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeAlias

from aiohttp import web

from lockstep.api.meta import ConditionType
from lockstep.api.notification import Receiver
from lockstep.controllers.notification.receiver import (
    WEBHOOK_PATH_PREFIX,
    NotServing,
    Requested,
    TokenUnavailable,
    receiver_name,
    webhook_path,
)
from lockstep.kube import KubeError

_log = logging.getLogger(__name__)

MAX_BODY_BYTES = 3 * 1024 * 1024
"""The largest body accepted, Flux's limit: a GitHub push of many commits can pass 1 MiB."""

HMAC_ALGORITHMS = ("sha1", "sha256", "sha512")
"""Hash functions a ``generic-hmac`` signature may name."""


class ReceiverDirectory(Protocol):
    """What the server needs of the receiver controller (:class:`~lockstep.controllers.notification.receiver.Webhooks`)."""

    def find(self, path: str) -> Receiver | None: ...

    async def token(self, receiver: Receiver) -> bytes: ...

    async def request_reconciliation(self, receiver: Receiver) -> Requested: ...


@dataclass(frozen=True)
class Call:
    """An incoming call, with what it is checked against."""

    headers: Mapping[str, str]
    """The request headers; looked up case-insensitively when they come from aiohttp."""
    body: bytes
    token: bytes
    events: Sequence[str]
    """``spec.events`` of the Receiver."""

    def header(self, name: str) -> str | None:
        """The value of header ``name`` as text that can be compared, logged and answered:
        aiohttp keeps bytes that are not UTF-8 as lone surrogates, which become ``?``."""
        value = self.headers.get(name)
        return None if value is None else value.encode("utf-8", "replace").decode("utf-8")


@dataclass(frozen=True)
class Accepted:
    """The call is authentic and asks for reconciliation."""

    event: str | None = None


@dataclass(frozen=True)
class Ignored:
    """The call is authentic but triggers nothing (a ping, an event not listed)."""

    reason: str


@dataclass(frozen=True)
class Refused:
    """The call is not authentic."""

    reason: str


Verdict: TypeAlias = Accepted | Ignored | Refused
Check: TypeAlias = Callable[[Call], Verdict]


def signature_problem(
    header: str | None, name: str, body: bytes, token: bytes, algorithms: Sequence[str]
) -> str | None:
    """Why the ``<algorithm>=<hex>`` signature in header ``name`` does not sign ``body``
    with ``token``, or ``None`` when it does."""
    if not header:
        return f"no {name} header; set the webhook's secret to the Receiver's token"
    algorithm, _, signature = header.partition("=")
    if algorithm not in algorithms:
        return f"{name} names '{algorithm}'; sign with one of {', '.join(algorithms)}"
    try:
        given = bytes.fromhex(signature)
    except ValueError:
        return f"{name} is not '{algorithm}=' followed by a hex digest"
    expected = hmac.new(token, body, getattr(hashlib, algorithm)).digest()
    if not hmac.compare_digest(expected, given):
        return f"{name} does not match the body signed with the Receiver's token"
    return None


def event_listed(event: str, events: Sequence[str]) -> bool:
    """Whether ``spec.events`` takes ``event``: listed in any case, or the list is empty."""
    return not events or any(event.casefold() == listed.casefold() for listed in events)


def check_generic(call: Call) -> Verdict:
    return Accepted()


def check_generic_hmac(call: Call) -> Verdict:
    header = call.header("X-Signature")
    problem = signature_problem(header, "X-Signature", call.body, call.token, HMAC_ALGORITHMS)
    return Refused(problem) if problem else Accepted()


def check_github(call: Call) -> Verdict:
    header = call.header("X-Hub-Signature-256")
    problem = signature_problem(header, "X-Hub-Signature-256", call.body, call.token, ("sha256",))
    if problem:
        return Refused(problem)
    event = call.header("X-GitHub-Event") or ""
    if event == "ping":
        return Ignored("GitHub ping")
    if not event_listed(event, call.events):
        return Ignored(f"GitHub event '{event}' is not in spec.events")
    return Accepted(event)


def check_gitlab(call: Call) -> Verdict:
    given = call.header("X-Gitlab-Token")
    if given is None:
        return Refused("no X-Gitlab-Token header; set the webhook's secret token to the Receiver's")
    if not hmac.compare_digest(given.encode(), call.token):
        return Refused("X-Gitlab-Token is not the Receiver's token")
    event = call.header("X-Gitlab-Event") or ""
    if not event_listed(event, call.events):
        return Ignored(f"GitLab event '{event}' is not in spec.events")
    return Accepted(event)


CHECKS: dict[str, Check] = {
    "generic": check_generic,
    "generic-hmac": check_generic_hmac,
    "github": check_github,
    "gitlab": check_gitlab,
}
"""How each supported ``spec.type`` authenticates a call."""


def receiver_app(receivers: ReceiverDirectory) -> web.Application:
    """An application that serves ``POST /hook/<digest>`` for the Receivers of ``receivers``."""

    async def hook(request: web.Request) -> web.Response:
        caller = request.remote or "unknown"
        try:
            receiver = receivers.find(request.path)
        except NotServing as error:
            _log.info("refused a webhook call from %s: %s", caller, error)
            return web.Response(status=503, text=f"{error}\n")
        if receiver is None:
            _log.info("refused a webhook call from %s: no Receiver has its path", caller)
            return web.Response(status=404, text="no Receiver at this path\n")
        name = receiver_name(receiver)
        unavailable = _unavailable(receiver)
        if unavailable:
            _log.info("%s: refused a call from %s: %s", name, caller, unavailable)
            return web.Response(status=503, text=f"{unavailable}\n")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            _log.warning(
                "%s: refused a call from %s: body over %d bytes", name, caller, MAX_BODY_BYTES
            )
            raise
        try:
            token = await receivers.token(receiver)
        except (TokenUnavailable, KubeError) as error:
            _log.warning("%s: refused a call from %s: %s", name, caller, error)
            return web.Response(status=503, text=f"{name} cannot read its token\n")
        if not hmac.compare_digest(
            webhook_path(token, receiver.metadata.name, receiver.metadata.namespace or ""),
            request.path,
        ):
            # The token changed since the path was computed: the old path is no longer valid.
            _log.info("%s: refused a call from %s: the token has changed", name, caller)
            return web.Response(status=404, text="no Receiver at this path\n")
        check = CHECKS.get(receiver.spec.type)
        if check is None:
            _log.info("%s: refused a call from %s: unsupported type", name, caller)
            return web.Response(status=503, text=f"{name} has an unsupported type\n")
        verdict = check(Call(request.headers, body, token, receiver.spec.events))
        if isinstance(verdict, Refused):
            _log.warning("%s: refused a call from %s: %s", name, caller, verdict.reason)
            return web.Response(status=401, text=f"{verdict.reason}\n")
        if isinstance(verdict, Ignored):
            _log.info("%s: ignored a call from %s: %s", name, caller, verdict.reason)
            return web.Response(text=f"ignored: {verdict.reason}\n")
        return await _trigger(receivers, receiver, verdict, caller)

    app = web.Application(client_max_size=MAX_BODY_BYTES)
    # Only digests reach the handler: anything else is 404 without a lookup.
    app.router.add_post(WEBHOOK_PATH_PREFIX + "{digest:[0-9a-f]{64}}", hook)
    return app


async def _trigger(
    receivers: ReceiverDirectory, receiver: Receiver, verdict: Accepted, caller: str
) -> web.Response:
    name = receiver_name(receiver)
    kind = receiver.spec.type
    what = f"{kind} event '{verdict.event}'" if verdict.event else f"a {kind} call"
    requested = await receivers.request_reconciliation(receiver)
    objects = ", ".join(requested.objects) or "nothing"
    if requested.failures:
        failures = "; ".join(requested.failures)
        _log.warning(
            "%s: accepted %s from %s; requested reconciliation of %s; failed: %s",
            name,
            what,
            caller,
            objects,
            failures,
        )
        return web.Response(status=500, text=f"failed: {failures}\n")
    _log.info(
        "%s: accepted %s from %s; requested reconciliation of %s",
        name,
        what,
        caller,
        objects,
    )
    return web.Response(text=f"requested reconciliation of {objects}\n")


def _unavailable(receiver: Receiver) -> str | None:
    """Why the Receiver takes no calls now, or ``None`` when it does."""
    if receiver.spec.suspend:
        return f"{receiver_name(receiver)} is suspended"
    conditions = receiver.status.conditions if receiver.status else []
    if not any(c.type == ConditionType.READY and c.status == "True" for c in conditions):
        return f"{receiver_name(receiver)} is not ready"
    return None
