"""An entry of a type tar does not define."""

from pathlib import Path

from ground.tarballs import member, write_after_config_map


def make(dest: Path) -> None:
    write_after_config_map(dest, member("app/strange", b"Z"))
