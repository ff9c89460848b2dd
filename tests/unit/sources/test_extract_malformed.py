"""Extraction of tarballs that are malformed rather than hostile to the folder: entries the
file system refuses, hard links to nothing, gzip streams whose checksum is wrong, and
decompression bombs hidden where no file content is (a header, the end of the stream).
Each fails as an invalid artifact naming the entry, never with the file system's own
exception or the extraction folder's local path; real tarballs with long names and
padded records still extract."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest

from lockstep.sources.errors import InvalidArtifact, UnsafeArchive
from lockstep.sources.extract import ENTRY_OVERHEAD_BYTES, TRAILER_BYTES, extract_tarball

SOURCE = "artifact http://artifacts.example/apps.tar.gz"
LIMIT = 1024 * 1024
CONFIG_MAP = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n"


def entry(
    name: str, kind: bytes = tarfile.REGTYPE, content: bytes = b"", link: str = ""
) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(content) if kind == tarfile.REGTYPE else 0
    info.linkname = link
    return info, content


def tar_bytes(*entries: tuple[tarfile.TarInfo, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, content in entries:
            tar.addfile(info, io.BytesIO(content) if info.isreg() else None)
    return out.getvalue()


def header(name: str, kind: bytes, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = size
    return info.tobuf(tarfile.USTAR_FORMAT)


def extract(data: bytes, dest: Path) -> int:
    return extract_tarball(io.BytesIO(data), dest, max_bytes=LIMIT, source=SOURCE)


@pytest.mark.parametrize(
    ("entries", "name", "reason"),
    [
        (
            [entry("app/config", content=CONFIG_MAP), entry("app/config/x.yaml", content=b"")],
            "app/config/x.yaml",
            "Not a directory",
        ),
        (
            [entry("app/config", tarfile.DIRTYPE), entry("app/config", content=CONFIG_MAP)],
            "app/config",
            "Is a directory",
        ),
        ([entry("app/" + "a" * 300, content=CONFIG_MAP)], "app/" + "a" * 300, "too long"),
    ],
)
def test_an_entry_the_file_system_refuses_is_an_invalid_artifact(
    tmp_path: Path, entries: list[tuple[tarfile.TarInfo, bytes]], name: str, reason: str
) -> None:
    with pytest.raises(InvalidArtifact) as raised:
        extract(gzip.compress(tar_bytes(*entries)), tmp_path)

    message = str(raised.value)
    assert f"tarball entry {name!r} cannot be extracted" in message
    assert reason in message
    assert str(tmp_path) not in message


def test_a_hard_link_to_an_entry_the_tarball_lacks_is_an_invalid_artifact(
    tmp_path: Path,
) -> None:
    data = gzip.compress(tar_bytes(entry("app/link", tarfile.LNKTYPE, link="app/missing")))

    with pytest.raises(InvalidArtifact, match="hard link to 'app/missing', which the tarball"):
        extract(data, tmp_path)


def test_a_link_refused_by_the_data_filter_is_named_without_the_local_folder(
    tmp_path: Path,
) -> None:
    data = gzip.compress(
        tar_bytes(
            entry("app/a", tarfile.SYMTYPE, link="."),
            entry("app/b", tarfile.SYMTYPE, link="a/.."),
            entry("app/c", tarfile.SYMTYPE, link="b/.."),
        )
    )

    with pytest.raises(UnsafeArchive) as raised:
        extract(data, tmp_path)

    assert "tarball entry 'app/c' links, through other links, outside" in str(raised.value)
    assert str(tmp_path.parent) not in str(raised.value)


def test_a_wrong_gzip_checksum_is_an_invalid_artifact(tmp_path: Path) -> None:
    valid = gzip.compress(tar_bytes(entry("app/configmap.yaml", content=CONFIG_MAP)))

    with pytest.raises(InvalidArtifact, match=r"not a valid gzip tarball \(CRC check failed"):
        extract(valid[:-8] + bytes(4) + valid[-4:], tmp_path)


@pytest.mark.parametrize("kind", [tarfile.XHDTYPE, tarfile.GNUTYPE_LONGNAME])
def test_a_header_inflating_past_its_allowance_is_refused_before_it_is_read(
    tmp_path: Path, kind: bytes
) -> None:
    junk = 8 * 1024 * 1024
    data = gzip.compress(
        header("././@Header", kind, junk)
        + b"a" * junk
        + tar_bytes(entry("app/configmap.yaml", content=CONFIG_MAP))
    )

    with pytest.raises(InvalidArtifact, match="inflates to more than its files and tar headers"):
        extract(data, tmp_path)


def test_data_after_the_end_of_the_tarball_past_its_allowance_is_refused(
    tmp_path: Path,
) -> None:
    tarball = tar_bytes(entry("app/configmap.yaml", content=CONFIG_MAP))

    with pytest.raises(InvalidArtifact, match="data after the end of the tarball"):
        extract(gzip.compress(tarball + bytes(TRAILER_BYTES + 4 * ENTRY_OVERHEAD_BYTES)), tmp_path)


def test_long_names_and_large_records_stay_within_the_allowances(tmp_path: Path) -> None:
    files = [
        entry(f"app/{index:03}-" + "n" * 200 + ".yaml", content=CONFIG_MAP) for index in range(50)
    ]
    padded = tar_bytes(*files) + bytes(TRAILER_BYTES // 2)

    assert extract(gzip.compress(padded), tmp_path) == 50 * len(CONFIG_MAP)
    assert len(list((tmp_path / "app").iterdir())) == 50
