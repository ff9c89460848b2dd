"""A PAX extended header of 32 MiB before a small file."""

import tarfile
from pathlib import Path

from ground.tarballs import END_OF_ARCHIVE, config_map_entry, gzip_stream, write_junk_entry


def make(dest: Path) -> None:
    with gzip_stream(dest) as out:
        write_junk_entry(out, "././@PaxHeader", tarfile.XHDTYPE)
        out.write(config_map_entry("app/configmap.yaml") + END_OF_ARCHIVE)
