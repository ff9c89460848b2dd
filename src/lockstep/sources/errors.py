"""Failures of fetching and packing sources, raised by every module of :mod:`lockstep.sources`.

::

    SourceError               fetching or packing a source failed
    ├── InvalidUrl            the URL cannot be used: scheme or syntax        (fix spec.url)
    ├── InvalidSecret         the credentials are incomplete or malformed     (fix the Secret)
    ├── InvalidRef            the reference cannot be used: bad semver range  (fix spec.ref)
    ├── AuthenticationFailed  the server refused the credentials, or wanted some
    ├── UnknownHostKey        the SSH host key is not in the Secret's known_hosts
    ├── Unreachable           no answer: connection refused, DNS, network timeout
    ├── RepositoryNotFound    the server answered but has no repository at the URL
    ├── RefNotFound           the branch, tag, name or commit is not on the remote
    │   └── NoSemverMatch     no tag satisfies the semver range
    ├── PathNotFound          a sparse checkout path is not in the commit
    ├── FetchTimeout          the operation did not finish within its time limit
    └── TooLarge              the content exceeds the artifact size limit

Every message is one line that names the source (its URL with any password removed)
and, where one is involved, the reference, and says what to do. The reconciler maps
``Unreachable`` and ``FetchTimeout`` to a retry with backoff; the others usually need a
change of the object or its Secret, though a ref or repository may also appear later.
The library's own exception, when there is one, is chained as ``__cause__``.
"""

from __future__ import annotations


class SourceError(Exception):
    """Fetching or packing a source failed; the message is meant for the user."""


class InvalidUrl(SourceError):
    """The URL has an unsupported scheme or cannot be parsed."""


class InvalidSecret(SourceError):
    """The Secret's data does not describe usable credentials for the URL."""


class InvalidRef(SourceError):
    """The reference cannot be used as written, for example a malformed semver range."""


class AuthenticationFailed(SourceError):
    """The server rejected the credentials, or asked for credentials that were not given."""


class UnknownHostKey(SourceError):
    """The SSH server's host key does not match any entry of the known_hosts."""


class Unreachable(SourceError):
    """The server did not answer."""


class RepositoryNotFound(SourceError):
    """The server has no repository at the URL, or does not export it."""


class RefNotFound(SourceError):
    """The remote has no such branch, tag, reference or commit."""


class NoSemverMatch(RefNotFound):
    """No tag of the remote satisfies the semver range."""


class PathNotFound(SourceError):
    """A path asked for by a sparse checkout is not in the commit."""


class FetchTimeout(SourceError):
    """A network operation did not finish within its time limit."""


class TooLarge(SourceError):
    """The content to pack exceeds the artifact store's size limit."""
