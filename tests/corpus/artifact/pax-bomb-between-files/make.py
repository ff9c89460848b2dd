"""Two small files with a 32 MiB PAX header between them."""

import tarfile
from pathlib import Path

from ground.tarballs import END_OF_ARCHIVE, config_map_entry, gzip_stream, write_junk_entry


def make(dest: Path) -> None:
    with gzip_stream(dest) as out:
        out.write(config_map_entry("app/first.yaml"))
        write_junk_entry(out, "././@PaxHeader", tarfile.XHDTYPE)
        out.write(config_map_entry("app/second.yaml") + END_OF_ARCHIVE)
