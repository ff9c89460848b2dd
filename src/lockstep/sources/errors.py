"""Failures of fetching and packing sources, raised by every module of :mod:`lockstep.sources`.

::

    SourceError               fetching or packing a source failed
    ├── InvalidUrl            the URL cannot be used: scheme or syntax        (fix spec.url)
    │   └── AddressRefused    its host is internal, and internal hosts are refused
    ├── InvalidSecret         the credentials are incomplete or malformed     (fix the Secret)
    ├── InvalidRef            the reference cannot be used: bad semver range  (fix spec.ref)
    ├── AuthenticationFailed  the server refused the credentials, or wanted some
    ├── UnknownHostKey        the SSH host key is not in the Secret's known_hosts
    ├── Unreachable           no answer: connection refused, DNS, network timeout
    ├── RepositoryNotFound    the server answered but has no repository at the URL
    ├── RefNotFound           the branch, tag, name or commit is not on the remote
    │   └── NoSemverMatch     no tag or chart version satisfies the semver range
    ├── PathNotFound          a sparse checkout path is not in the commit
    ├── FetchTimeout          the operation did not finish within its time limit
    ├── ServerUnavailable     the server answered 429 or 5xx: busy or failing
    ├── TooLarge              the content exceeds the artifact size limit
    ├── InvalidIndex          a Helm repository's index.yaml is not a usable index
    ├── InvalidArtifact       an OCI manifest or layer, or a chart package, cannot be used
    │   ├── DigestMismatch    downloaded content differs from the digest naming it
    │   └── UnsafeArchive     a tarball entry would land outside its folder, or is a device
    └── VerificationFailed    the signature of the artifact, commit or tag does not check out
        ├── NotSigned         no cosign signature is stored, or the commit or tag has no OpenPGP one
        ├── KeyMismatch       no signature verifies with the trusted public keys
        └── PayloadMismatch   a valid signature names another artifact's digest

Every message is one line that names the source (its URL with any password removed)
and, where one is involved, the reference, and says what to do. The reconciler maps
``Unreachable``, ``FetchTimeout`` and ``ServerUnavailable`` to a retry with backoff; the
others usually need a change of the object or its Secret, though a ref or repository may
also appear later.
The library's own exception, when there is one, is chained as ``__cause__``.
"""

from __future__ import annotations


class SourceError(Exception):
    """Fetching or packing a source failed; the message is meant for the user."""


class InvalidUrl(SourceError):
    """The URL has an unsupported scheme or cannot be parsed."""


class AddressRefused(InvalidUrl):
    """The host (of the URL, a redirect, a token service or a submodule) is internal and
    ``lockstep run --block-internal-addresses`` refuses it (see :mod:`lockstep.egress`)."""


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
    """No tag of the remote, or chart version of the repository, satisfies the semver range."""


class PathNotFound(SourceError):
    """A path asked for by a sparse checkout is not in the commit."""


class FetchTimeout(SourceError):
    """A network operation did not finish within its time limit."""


class ServerUnavailable(SourceError):
    """The server answered but is overloaded or failing (HTTP 429 or 5xx); worth a retry."""


class TooLarge(SourceError):
    """The content to pack exceeds the artifact store's size limit."""


class InvalidIndex(SourceError):
    """A Helm repository's ``index.yaml`` is not YAML or JSON, or lacks ``apiVersion``,
    or its ``entries`` are not a mapping of chart names to lists of versions."""


class InvalidArtifact(SourceError):
    """The OCI artifact or chart package is not one the source can use: no such layer,
    not a gzip tarball."""


class DigestMismatch(InvalidArtifact):
    """Downloaded content does not hash to the digest that names it."""


class UnsafeArchive(InvalidArtifact):
    """A tarball entry is absolute, climbs with ``..``, links outside, or is a device."""


class VerificationFailed(SourceError):
    """The signature of the artifact, commit or tag could not be verified; the subclass says why."""


class NotSigned(VerificationFailed):
    """The registry holds no cosign signature for the artifact, or Git no OpenPGP one for the object."""


class KeyMismatch(VerificationFailed):
    """Signatures exist but none verifies with any of the trusted public keys."""


class PayloadMismatch(VerificationFailed):
    """A signature verifies but its payload names another manifest digest: copied or tampered."""
