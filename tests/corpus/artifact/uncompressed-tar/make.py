"""A tarball that is not gzip-compressed."""

from pathlib import Path

from ground.tarballs import member, packed, write_raw


def make(dest: Path) -> None:
    write_raw(dest, packed(member("app/empty.yaml"), compression=""))
