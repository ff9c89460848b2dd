"""Marker secrets for leak scans: unguessable values, the forms they take on the way
out, and scans of text and folders for any of them.

A `Marker` is a value no one would write by chance (``lockstep-marker-<purpose>-<hex>``),
used as one secret of one workflow, so a hit names the workflow that leaked. It is looked
for as written, URL-encoded, and base64-encoded at each of the three alignments it can
have inside a longer encoded blob (a Secret's ``data``, a basic-auth header, a tarball in
a base64 field), in the standard and the URL-safe alphabet. ``derived`` holds values
computed from the secret that are as good as the secret to whoever sees them (a
``user:password`` pair, the HMAC a webhook expects).

Folders are scanned file by file; gzip files (artifact tarballs) are scanned after
decompression too, since a tar stream keeps its members' bytes as they are.

Called by tests/integration/test_secrets_never_leak.py.
"""

from __future__ import annotations

import base64
import secrets
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

GZIP_MAGIC = b"\x1f\x8b"
MAX_DECOMPRESSED_BYTES = 256 * 1024 * 1024
"""A scanned gzip file is read up to this size, far beyond any artifact of the tests."""


@dataclass(frozen=True)
class Marker:
    """One secret value of one workflow, and what else would give it away."""

    purpose: str
    value: str
    derived: tuple[str, ...] = ()

    @classmethod
    def new(cls, purpose: str) -> Marker:
        return cls(purpose, f"lockstep-marker-{purpose}-{secrets.token_hex(16)}")

    def deriving(self, *values: str) -> Marker:
        """The same marker, also looked for as ``values``."""
        return Marker(self.purpose, self.value, (*self.derived, *values))

    def forms(self) -> dict[str, str]:
        """Every string whose presence would reveal the marker, by what it is."""
        forms = {"plain": self.value, "url-encoded": quote(self.value, safe="")}
        raw = self.value.encode()
        for shift in range(3):
            aligned = raw[shift:][: (len(raw) - shift) // 3 * 3]
            forms[f"base64+{shift}"] = base64.b64encode(aligned).decode()
            forms[f"base64url+{shift}"] = base64.urlsafe_b64encode(aligned).decode()
        forms.update({f"derived {number}": value for number, value in enumerate(self.derived)})
        return forms


def leaks(markers: Iterable[Marker], text: str) -> list[str]:
    """``purpose (form)`` of each marker found in ``text``."""
    return [
        f"{marker.purpose} ({form})"
        for marker in markers
        for form, value in marker.forms().items()
        if value in text
    ]


def leaks_in_folder(markers: Iterable[Marker], folder: Path) -> list[str]:
    """``path: purpose (form)`` for each marker in each file under ``folder``."""
    markers = list(markers)
    return [
        f"{path.relative_to(folder)}: {hit}"
        for path, text in _file_texts(folder)
        for hit in leaks(markers, text)
    ]


def _file_texts(folder: Path) -> Iterator[tuple[Path, str]]:
    for path in sorted(folder.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        try:
            content = path.read_bytes()
        except OSError:
            # A build's file removed between listing and reading: gone is not a leak.
            continue
        yield path, content.decode("latin-1")
        if content.startswith(GZIP_MAGIC):
            yield path, _gunzipped(content).decode("latin-1")


def _gunzipped(content: bytes) -> bytes:
    """The decompressed stream, as far as it goes (a truncated file still says something)."""
    decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        return decompressor.decompress(content, MAX_DECOMPRESSED_BYTES)
    except zlib.error:
        return b""
