"""A tarball entry with an absolute path."""

from pathlib import Path

from ground.tarballs import member, write_after_config_map


def make(dest: Path) -> None:
    write_after_config_map(dest, member("/etc/cron.d/escape", content=b"* * * * * root true\n"))
