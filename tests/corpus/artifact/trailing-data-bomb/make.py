"""A valid tarball followed by 32 MiB of zeros in the same gzip stream."""

from pathlib import Path

from ground.tarballs import END_OF_ARCHIVE, config_map_entry, gzip_stream, write_junk


def make(dest: Path) -> None:
    with gzip_stream(dest) as out:
        out.write(config_map_entry("app/configmap.yaml") + END_OF_ARCHIVE)
        write_junk(out)
