"""A GNU long-name header of 32 MiB before a small file. Streamed into the gzip file, never held whole."""

import gzip
import tarfile
from pathlib import Path

JUNK_BYTES = 32 * 1024 * 1024
CONFIG_MAP = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n"


def header(name: str, kind: bytes, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = size
    return info.tobuf(tarfile.USTAR_FORMAT)


def padded(data: bytes) -> bytes:
    return data + bytes(-len(data) % tarfile.BLOCKSIZE)


def make(dest: Path) -> None:
    with gzip.open(dest / "artifact.tar.gz", "wb", compresslevel=9) as out:
        out.write(header("././@LongLink", tarfile.GNUTYPE_LONGNAME, JUNK_BYTES))
        chunk = b"a" * (1024 * 1024)
        for _ in range(JUNK_BYTES // len(chunk)):
            out.write(chunk)
        out.write(header("app/configmap.yaml", tarfile.REGTYPE, len(CONFIG_MAP)))
        out.write(padded(CONFIG_MAP) + bytes(2 * tarfile.BLOCKSIZE))
