"""The tags each ImageRepository's last scan found, kept in memory for the ImagePolicies.

The ImageRepository controller puts the result of every successful scan here and
drops the entry when the object is deleted; the ImagePolicy controller reads the
tags of the repository a policy names. The status holds only a sample of the tags,
so the full list lives here. lockstep keeps no state it cannot rebuild: after a
restart the store is empty and the first scan of each repository refills it.

Whenever an entry changes (new tags, another image, the first fill after a start,
a deletion) the subscribers hear the repository's key; the controller manager
enqueues the ImagePolicies that name it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lockstep.runtime.informer import ObjectKey

TagsSubscriber = Callable[[ObjectKey], None]


@dataclass(frozen=True)
class ScannedTags:
    """What one scan of an ImageRepository found."""

    image: str
    """``spec.image`` as scanned, which ImagePolicies report as ``latestRef.name``."""

    revision: str
    """The revision of the tags, as ``status.lastScanResult.revision``."""

    tags: tuple[str, ...]
    """Every tag kept by the exclusion list, newest first."""


class ImageTagStore:
    """Scanned tags by ImageRepository key (namespace, name)."""

    def __init__(self) -> None:
        self._scans: dict[ObjectKey, ScannedTags] = {}
        self._subscribers: list[TagsSubscriber] = []

    def subscribe(self, subscriber: TagsSubscriber) -> None:
        """Call `subscriber` with the key of each repository whose entry changes."""
        self._subscribers.append(subscriber)

    def get(self, key: ObjectKey) -> ScannedTags | None:
        """The last scan of the repository, or None while it has not been scanned."""
        return self._scans.get(key)

    def put(self, key: ObjectKey, scanned: ScannedTags) -> bool:
        """Keep `scanned` as the repository's tags; whether that changed the entry."""
        if self._scans.get(key) == scanned:
            return False
        self._scans[key] = scanned
        self._notify(key)
        return True

    def drop(self, key: ObjectKey) -> None:
        """Forget the repository's tags: it was deleted."""
        if self._scans.pop(key, None) is not None:
            self._notify(key)

    def _notify(self, key: ObjectKey) -> None:
        for subscriber in self._subscribers:
            subscriber(key)
