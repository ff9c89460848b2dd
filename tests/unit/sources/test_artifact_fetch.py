"""A source's artifact fetched by its consumer: served over HTTP on loopback,
checked against its digest before anything is extracted, extracted only inside
the folder, and refused past the size limit."""

from __future__ import annotations

import hashlib
import http.server
import io
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from lockstep.sources.artifact_fetch import fetch_artifact
from lockstep.sources.errors import (
    DigestMismatch,
    InvalidArtifact,
    ServerUnavailable,
    TooLarge,
    Unreachable,
    UnsafeArchive,
)


class Artifacts(http.server.ThreadingHTTPServer):
    """Serves ``files`` by path; any other path answers ``missing_status``."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files: dict[str, bytes] = {}
        self.missing_status = 404
        self.requests: list[str] = []

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/{path}"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: Artifacts

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        body = self.server.files.get(self.path.lstrip("/"))
        if body is None:
            self.send_error(self.server.missing_status)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def artifacts() -> Iterator[Artifacts]:
    server = Artifacts()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def tarball(*entries: tarfile.TarInfo | tuple[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for entry in entries:
            if isinstance(entry, tarfile.TarInfo):
                tar.addfile(entry)
            else:
                name, content = entry
                info = tarfile.TarInfo(name)
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return out.getvalue()


def sha256(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def serve(artifacts: Artifacts, data: bytes, name: str = "app.tar.gz") -> str:
    artifacts.files[name] = data
    return artifacts.url(name)


GOOD = tarball(("apps/settings.yaml", b"kind: ConfigMap\n"), ("kustomization.yaml", b"{}\n"))


def test_an_artifact_matching_its_digest_is_extracted(artifacts: Artifacts, tmp_path: Path) -> None:
    url = serve(artifacts, GOOD)

    content_bytes = fetch_artifact(url, sha256(GOOD), tmp_path / "tree", scratch=tmp_path)

    assert (tmp_path / "tree/apps/settings.yaml").read_bytes() == b"kind: ConfigMap\n"
    assert content_bytes == len(b"kind: ConfigMap\n") + len(b"{}\n")
    assert [p.name for p in tmp_path.iterdir()] == ["tree"], "the download is not kept"


def test_other_digest_algorithms_of_flux_are_checked(artifacts: Artifacts, tmp_path: Path) -> None:
    url = serve(artifacts, GOOD)
    digest = f"sha512:{hashlib.sha512(GOOD).hexdigest()}"

    fetch_artifact(url, digest, tmp_path / "tree")

    assert (tmp_path / "tree/kustomization.yaml").exists()
    with pytest.raises(InvalidArtifact, match="digest 'md5:abc' is not"):
        fetch_artifact(url, "md5:abc", tmp_path / "other")


def test_a_tampered_artifact_is_refused_before_extraction(
    artifacts: Artifacts, tmp_path: Path
) -> None:
    tampered = tarball(("apps/settings.yaml", b"kind: ConfigMap\ndata: {evil: yes}\n"))
    url = serve(artifacts, tampered)

    with pytest.raises(DigestMismatch) as refused:
        fetch_artifact(url, sha256(GOOD), tmp_path / "tree")

    message = str(refused.value)
    assert url in message
    assert f"its digest is {sha256(tampered)}, not {sha256(GOOD)}" in message
    assert not (tmp_path / "tree").exists(), "nothing of a tampered artifact is extracted"


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        (("../outside.yaml", b"x"), "climbs out with '..'"),
        (("/etc/cron.d/job", b"x"), "has an absolute path"),
    ],
)
def test_entries_leaving_the_tree_are_refused(
    artifacts: Artifacts, tmp_path: Path, entry: tuple[str, bytes], problem: str
) -> None:
    data = tarball(("ok.yaml", b"x"), entry)
    url = serve(artifacts, data)

    with pytest.raises(UnsafeArchive, match=problem) as refused:
        fetch_artifact(url, sha256(data), tmp_path / "tree")
    assert "the artifact's tarball entry" in str(refused.value)
    assert "remove that entry from the source" in str(refused.value)


def test_a_link_leaving_the_tree_is_refused(artifacts: Artifacts, tmp_path: Path) -> None:
    link = tarfile.TarInfo("apps/passwords")
    link.type = tarfile.SYMTYPE
    link.linkname = "../../../etc/passwd"
    data = tarball(("apps/ok.yaml", b"x"), link)
    url = serve(artifacts, data)

    with pytest.raises(UnsafeArchive, match=r"is a link to \.\./\.\./\.\./etc/passwd, outside"):
        fetch_artifact(url, sha256(data), tmp_path / "tree")
    assert not (tmp_path / "tree/apps/passwords").is_symlink()


def test_links_that_leave_together_are_refused(artifacts: Artifacts, tmp_path: Path) -> None:
    up = tarfile.TarInfo("up")
    up.type = tarfile.SYMTYPE
    up.linkname = "."
    # Each link stays inside alone; "deep/x" -> "../up/.." leaves through "up".
    deep = tarfile.TarInfo("deep")
    deep.type = tarfile.DIRTYPE
    escape = tarfile.TarInfo("deep/x")
    escape.type = tarfile.SYMTYPE
    escape.linkname = "../up/.."
    data = tarball(up, deep, escape)
    url = serve(artifacts, data)

    with pytest.raises(UnsafeArchive, match="outside"):
        fetch_artifact(url, sha256(data), tmp_path / "tree")


def test_an_oversized_download_is_refused(artifacts: Artifacts, tmp_path: Path) -> None:
    data = tarball(("big.bin", bytes(range(256)) * 4096))
    url = serve(artifacts, data)

    with pytest.raises(TooLarge, match="the download exceeds the artifact size limit of 1000"):
        fetch_artifact(url, sha256(data), tmp_path / "tree", max_bytes=1000)
    assert not (tmp_path / "tree").exists()


def test_files_larger_than_the_limit_once_extracted_are_refused(
    artifacts: Artifacts, tmp_path: Path
) -> None:
    data = tarball(("zeros.bin", bytes(200_000)))  # compresses to a few hundred bytes
    assert len(data) < 10_000
    url = serve(artifacts, data)

    with pytest.raises(TooLarge, match="the files of the artifact exceed the artifact size limit"):
        fetch_artifact(url, sha256(data), tmp_path / "tree", max_bytes=10_000)


def test_not_a_tarball_is_invalid(artifacts: Artifacts, tmp_path: Path) -> None:
    data = b"<html>not an artifact</html>"
    url = serve(artifacts, data)

    with pytest.raises(InvalidArtifact, match="the artifact is not a valid gzip tarball"):
        fetch_artifact(url, sha256(data), tmp_path / "tree")


def test_server_answers_are_told_apart(artifacts: Artifacts, tmp_path: Path) -> None:
    with pytest.raises(InvalidArtifact, match="answered 404"):
        fetch_artifact(artifacts.url("gone.tar.gz"), None, tmp_path / "tree")
    artifacts.missing_status = 503
    with pytest.raises(ServerUnavailable, match="answered 503"):
        fetch_artifact(artifacts.url("gone.tar.gz"), None, tmp_path / "tree")


def test_no_server_is_unreachable(artifacts: Artifacts, tmp_path: Path) -> None:
    url = artifacts.url("app.tar.gz")
    artifacts.shutdown()
    artifacts.server_close()

    with pytest.raises(Unreachable, match=f"artifact {url}: cannot reach the artifact server"):
        fetch_artifact(url, None, tmp_path / "tree")
