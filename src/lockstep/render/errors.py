"""Failures of rendering a Kustomization's path, raised by every module of :mod:`lockstep.render`.

::

    RenderError              rendering the objects of a path failed
    ├── InvalidPath          spec.path is not a folder of the artifact, or leaves it
    ├── ForbiddenReference   a kustomization file or spec.components refers outside the
    │                        artifact, or to a remote base
    ├── MissingReference     a kustomization file or spec.components names a path the artifact
    │                        does not hold
    ├── InvalidManifest      malformed YAML, or a document that is not a Kubernetes object
    │   └── DuplicateObject  two documents describe the same object
    ├── KustomizeFailed      Kustomize refused the kustomization
    │   └── BuildServiceFailed  the build service could not start or ended without an answer
    ├── DecryptionFailed     a SOPS-encrypted object or generator input cannot be decrypted
    │                        with the age keys given, or a key is not an age private key
    ├── BuildTimeout         Kustomize or sops did not finish within the build's
    │                        time limit
    ├── BuildLimitExceeded   Kustomize or sops went past the build memory or CPU limit
    │                        of ``lockstep run``, or printed more than a build may
    ├── ContentLimitExceeded a file is larger, nests deeper or expands its aliases further
    │                        than the engine reads (:mod:`lockstep.render.bounds`)
    └── SubstitutionFailed   postBuild substitution met an expression it cannot evaluate,
                             or produced YAML that does not parse

Every message is one line that names the file (relative to the artifact root, with a
line number where one is known) or the object, and says what to do. Apart from
``BuildTimeout``, ``BuildServiceFailed``, and ``DecryptionFailed`` whose keys come from a
Secret that may change, none is worth a retry with the same artifact and spec
(:func:`repeats`; the build cache keeps such failures, so that a retry costs no build): the reconciler
marks the Kustomization failed with reason ``BuildFailed`` until the source or the spec
changes, and prefixes the message with the Kustomization's name. The underlying exception, when there is
one, is chained as ``__cause__``, unless it would carry decrypted content.
"""

from __future__ import annotations


class RenderError(Exception):
    """Rendering the objects of a path failed; the message is meant for the user."""


class InvalidPath(RenderError):
    """``spec.path`` is not a folder of the artifact, or resolves outside it."""


class ForbiddenReference(RenderError):
    """A kustomization file refers to a remote base, or to a path outside the artifact."""


class MissingReference(RenderError):
    """A kustomization file refers to a local path that the artifact does not hold."""


class InvalidManifest(RenderError):
    """A YAML document does not parse, or lacks apiVersion, kind or metadata.name."""


class DuplicateObject(InvalidManifest):
    """Two documents have the same group, kind, namespace and name."""


class KustomizeFailed(RenderError):
    """Kustomize refused the build; the message carries its error on one line."""


class BuildServiceFailed(KustomizeFailed):
    """The Kustomize build service could not start, or ended without an answer."""


class DecryptionFailed(RenderError):
    """sops could not decrypt an object or a file with the age keys given; never quotes plaintext."""


class BuildTimeout(RenderError):
    """Kustomize or sops ran past the build's time limit and was stopped."""


class BuildLimitExceeded(RenderError):
    """Kustomize or sops went past a limit of the build's processes and was stopped."""


class ContentLimitExceeded(RenderError):
    """A file or text is larger, deeper or expands its aliases further than is read."""


class SubstitutionFailed(RenderError):
    """postBuild substitution could not be carried out for an object."""


def repeats(error: RenderError) -> bool:
    """Whether the same build of the same files and options fails the same way again."""
    return not isinstance(error, BuildTimeout | BuildServiceFailed | DecryptionFailed)
