"""Container image names as ``spec.image`` of an ImageRepository writes them.

`parse_image_name` takes ``ghcr.io/acme/app``, ``127.0.0.1:5000/team/app`` or plain
``alpine`` apart the way Docker and Flux read them: the first path component is a
registry host when it has a dot or a port or is ``localhost``; otherwise the image is
on Docker Hub, where a one-component name lives under ``library/``. The result knows
its canonical name (what ``status.canonicalImageName`` reports) and where the
distribution API answers for it.

Used by :mod:`lockstep.sources.image_scan` and the image controllers. An unusable name
raises :class:`lockstep.sources.errors.InvalidUrl`, its message naming ``spec.image``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lockstep.sources.errors import InvalidUrl
from lockstep.sources.registry_auth import DOCKER_HUB
from lockstep.sources.registry_client import OciUrl

DOCKER_HUB_CANONICAL = "index.docker.io"
"""The registry name Flux writes in canonical names of Docker Hub images."""

_DOCKER_HUB_NAMES = frozenset({DOCKER_HUB, DOCKER_HUB_CANONICAL})
_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]{1,5})?")
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*")


@dataclass(frozen=True)
class ImageName:
    """An image repository: its registry host and its path there, without tag or digest."""

    registry: str
    """``host[:port]``; ``docker.io`` for Docker Hub, however the image spelled it."""

    repository: str
    """The path on the registry, e.g. ``library/alpine``."""

    @property
    def canonical(self) -> str:
        """The full name, Docker Hub spelled ``index.docker.io`` as in Flux's status."""
        registry = DOCKER_HUB_CANONICAL if self.registry == DOCKER_HUB else self.registry
        return f"{registry}/{self.repository}"

    @property
    def location(self) -> OciUrl:
        """Where :class:`~lockstep.sources.registry_client.RegistryClient` finds it."""
        return OciUrl(self.registry, self.repository)


def parse_image_name(image: str) -> ImageName:
    """The registry and repository of `image`; raises `InvalidUrl` naming what to fix."""
    scheme, separator, _ = image.partition("://")
    if separator:
        raise InvalidUrl(
            f"image {image!r} must not include a URL scheme; remove '{scheme}://' from spec.image"
        )
    if "@" in image:
        raise InvalidUrl(
            f"image {image!r} must not include a digest; write the repository alone in spec.image"
        )
    first, slash, rest = image.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, rest
        if not _HOST.fullmatch(registry):
            raise InvalidUrl(
                f"image {image!r} has an invalid registry host {registry!r}; correct spec.image"
            )
    else:
        registry, repository = DOCKER_HUB, image
    if registry in _DOCKER_HUB_NAMES:
        registry = DOCKER_HUB
        if "/" not in repository:
            repository = f"library/{repository}"
    if ":" in repository:
        tag = repository.rsplit(":", 1)[1]
        raise InvalidUrl(
            f"image {image!r} must not include a tag; remove ':{tag}' from spec.image "
            "(ImagePolicies choose the tag)"
        )
    if not _REPOSITORY.fullmatch(repository):
        raise InvalidUrl(
            f"image {image!r} has an invalid repository name {repository!r}: lower-case "
            "letters, digits and . _ - / only; correct spec.image"
        )
    return ImageName(registry, repository)
