"""HTTP chart repositories: the index fetched, stored as Flux stores it, searched; packages.

Fetches run against the test ground's `ChartRepository` on 127.0.0.1; what a loopback
server cannot show (credentials on other hosts, redirects, tampered packages, malformed
indexes) runs against hosts behind `httpx2.MockTransport`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
import yaml

from ground.charts import REPOSITORY_CREDENTIALS, Chart, ChartRepository, repository_index
from lockstep.dev.loopback import free_port
from lockstep.egress import Egress
from lockstep.sources.errors import (
    AddressRefused,
    AuthenticationFailed,
    DigestMismatch,
    FetchTimeout,
    InvalidArtifact,
    InvalidIndex,
    InvalidRef,
    InvalidSecret,
    InvalidUrl,
    NoSemverMatch,
    RefNotFound,
    RepositoryNotFound,
    ServerUnavailable,
    TooLarge,
    Unreachable,
)
from lockstep.sources.helm_index import ZERO_TIME, parse_index
from lockstep.sources.helm_repository import (
    ChartIndex,
    ChartVersion,
    HelmRepositoryOptions,
    credentials_from_secret,
    download_chart,
    fetch_index,
    load_index,
    resolve_chart_url,
    select_chart,
    tls_from_auth_secret,
)

VERSIONS = ("6.4.1", "6.5.0", "7.0.0-rc.1", "1.10.0", "6.5.0-beta.2")
USER, PASSWORD = REPOSITORY_CREDENTIALS


def podinfo(version: str) -> Chart:
    return Chart("podinfo", version, metadata={"appVersion": version})


def serve(repository: ChartRepository, *versions: str) -> None:
    repository.add(*(podinfo(version) for version in versions))


def index_yaml(charts: list[Chart], **changes: object) -> bytes:
    return yaml.safe_dump({**repository_index(charts), **changes}).encode()


Handler = Callable[[httpx2.Request], httpx2.Response]


def mocked(handler: Handler, **settings: Any) -> HelmRepositoryOptions:
    return HelmRepositoryOptions(transport=httpx2.MockTransport(handler), **settings)


# --- the index -----------------------------------------------------------------------


def test_index_is_fetched_parsed_and_sorted_newest_first(
    chart_repository: ChartRepository,
) -> None:
    serve(chart_repository, *VERSIONS)
    index = fetch_index(chart_repository.url)
    versions = [entry.version for entry in index.entries["podinfo"]]
    assert versions == ["7.0.0-rc.1", "6.5.0", "6.5.0-beta.2", "6.4.1", "1.10.0"]
    first = index.entries["podinfo"][0]
    assert first.urls == ("podinfo-7.0.0-rc.1.tgz",)
    assert first.digest == podinfo("7.0.0-rc.1").digest()
    assert first.app_version == "7.0.0-rc.1"
    assert first.created == "2026-01-01T00:00:00Z"
    assert index.api_version == "v1"
    assert chart_repository.requests == ["/index.yaml"]


def test_trailing_slash_and_sub_folder_give_the_same_index_url(
    chart_repository: ChartRepository,
) -> None:
    serve(chart_repository, "1.0.0")
    fetch_index(chart_repository.url + "/")
    with pytest.raises(RepositoryNotFound, match=r"index.yaml not found at .*/charts/index.yaml"):
        fetch_index(chart_repository.url + "/charts/")
    assert chart_repository.requests == ["/index.yaml", "/charts/index.yaml"]


def test_the_artifact_is_the_sorted_index_as_json_and_the_revision_the_download_digest(
    chart_repository: ChartRepository,
) -> None:
    serve(chart_repository, *VERSIONS)
    index = fetch_index(chart_repository.url)
    served = httpx2.get(chart_repository.url + "/index.yaml").content
    assert index.revision == f"sha256:{hashlib.sha256(served).hexdigest()}"
    assert index.digest == f"sha256:{hashlib.sha256(index.raw).hexdigest()}"
    assert index.artifact_filename == f"index-{hashlib.sha256(served).hexdigest()}.yaml"
    stored = json.loads(index.raw)
    assert list(stored) == ["apiVersion", "generated", "entries"]
    assert [v["version"] for v in stored["entries"]["podinfo"]][:2] == ["7.0.0-rc.1", "6.5.0"]
    assert list(stored["entries"]["podinfo"][0]) == [
        "name",
        "version",
        "apiVersion",
        "appVersion",
        "urls",
        "created",
        "digest",
    ]
    assert index.raw.startswith(b'{\n  "apiVersion": "v1",\n  "generated"')


def test_the_same_index_gives_the_same_bytes_whatever_its_order_or_form(
    chart_repository: ChartRepository,
) -> None:
    serve(chart_repository, *VERSIONS)
    first, again = fetch_index(chart_repository.url), fetch_index(chart_repository.url)
    assert (first.raw, first.digest, first.revision) == (again.raw, again.digest, again.revision)
    shuffled = repository_index([podinfo(v) for v in VERSIONS])
    shuffled["entries"]["podinfo"].reverse()
    as_json = json.dumps(shuffled).encode()
    reparsed = parse_index(as_json, "http://charts.test")
    assert reparsed.raw == first.raw
    assert reparsed.revision != first.revision  # other bytes downloaded, as in Flux
    assert parse_index(first.raw, "http://charts.test").raw == first.raw


def test_stored_index_reads_back_with_its_revision(
    chart_repository: ChartRepository, tmp_path: Path
) -> None:
    serve(chart_repository, *VERSIONS)
    index = fetch_index(chart_repository.url)
    stored = tmp_path / index.artifact_filename
    stored.write_bytes(index.raw)
    loaded = load_index(stored, chart_repository.url)
    assert (loaded.raw, loaded.digest, loaded.revision) == (index.raw, index.digest, index.revision)
    assert loaded.entries == index.entries
    with pytest.raises(TooLarge):
        load_index(stored, max_bytes=10)


def test_go_forms_of_times_and_text_are_kept() -> None:
    raw = b"""apiVersion: v1
generated: 2026-01-01T10:00:00.500000000+00:00
entries:
  app:
  - name: app
    version: 1.10
    appVersion: 010
    created: 2026-01-01T00:00:00.123456789-06:00
    description: "a <b> & c"
    deprecated: true
    urls: [app-1.10.tgz]
  - name: app
    version: 2.0.0
"""
    index = parse_index(raw, "http://charts.test")
    app = index.entries["app"]
    assert [entry.version for entry in app] == ["2.0.0", "1.10"]
    assert app[1].app_version == "010"
    assert app[1].created == "2026-01-01T00:00:00.123456789-06:00"
    assert app[1].deprecated is True
    assert app[0].created == ZERO_TIME
    assert app[0].urls == ()
    stored = json.loads(index.raw)
    assert stored["generated"] == "2026-01-01T10:00:00.5Z"
    assert stored["entries"]["app"][0]["urls"] is None
    assert stored["entries"]["app"][0]["apiVersion"] == "v1"
    assert b'"a \\u003cb\\u003e \\u0026 c"' in index.raw


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "is empty"),
        (b"entries: [\n", "neither JSON nor YAML"),
        (b"- a\n- b\n", "not a mapping"),
        (b"entries: {}\n", "has no apiVersion"),
        (b"apiVersion: v1\nentries: [a]\n", "entries is not a mapping"),
        (b"apiVersion: v1\nentries:\n  app: 3\n", "entries.app is not a list"),
        (b"apiVersion: v1\ngenerated: yesterday\n", "not an RFC 3339 time"),
    ],
)
def test_invalid_indexes_are_refused_naming_the_repository(body: bytes, message: str) -> None:
    options = mocked(lambda request: httpx2.Response(200, content=body))
    with pytest.raises(InvalidIndex, match=message) as caught:
        fetch_index("https://charts.test/stable", options)
    assert "https://charts.test/stable" in str(caught.value)


def test_alias_bombs_are_refused() -> None:
    lines = ["apiVersion: v1", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{n}: &a{n} [*a{n - 1}, *a{n - 1}, *a{n - 1}, *a{n - 1}]" for n in range(1, 9)]
    with pytest.raises(InvalidIndex, match="YAML aliases"):
        parse_index("\n".join(lines).encode(), "http://charts.test")


def test_an_index_over_the_limit_is_refused(chart_repository: ChartRepository) -> None:
    serve(chart_repository, *VERSIONS)
    with pytest.raises(TooLarge, match=r"index.yaml is larger than the limit of 100 bytes"):
        fetch_index(chart_repository.url, max_bytes=100)


def test_an_unannounced_oversized_index_is_cut_off() -> None:
    def chunks() -> Iterator[bytes]:
        yield from (b"x" * 64 for _ in range(10))

    options = mocked(lambda request: httpx2.Response(200, content=chunks()))
    with pytest.raises(TooLarge):
        fetch_index("https://charts.test", options, max_bytes=100)


def test_a_missing_index_says_where_it_was_looked_for(chart_repository: ChartRepository) -> None:
    with pytest.raises(RepositoryNotFound) as caught:
        fetch_index(chart_repository.url + "/nothing")
    assert str(caught.value) == (
        f"index.yaml not found at {chart_repository.url}/nothing/index.yaml (HTTP 404); "
        "correct spec.url to the folder that holds index.yaml"
    )


# --- credentials ------------------------------------------------------------------------


def test_basic_auth_reaches_a_private_repository(
    private_chart_repository: ChartRepository,
) -> None:
    serve(private_chart_repository, "1.0.0")
    index = fetch_index(
        private_chart_repository.url, HelmRepositoryOptions(username=USER, password=PASSWORD)
    )
    assert [entry.version for entry in index.entries["podinfo"]] == ["1.0.0"]


def test_a_wrong_password_is_an_authentication_error_that_does_not_show_it(
    private_chart_repository: ChartRepository,
) -> None:
    options = HelmRepositoryOptions(username=USER, password="not-the-password")
    with pytest.raises(AuthenticationFailed) as caught:
        fetch_index(private_chart_repository.url, options)
    assert "HTTP 401" in str(caught.value)
    assert "check username and password in the Secret of spec.secretRef" in str(caught.value)
    assert "not-the-password" not in str(caught.value)


def test_no_credentials_for_a_private_repository_says_to_set_a_secret(
    private_chart_repository: ChartRepository,
) -> None:
    with pytest.raises(AuthenticationFailed, match=r"set spec.secretRef to a Secret"):
        fetch_index(private_chart_repository.url)


def test_credentials_read_from_a_secret_as_flux_reads_them() -> None:
    assert credentials_from_secret({}, "ns/s") == (None, None)
    assert credentials_from_secret({"username": b"u", "password": b"p"}, "ns/s") == ("u", "p")
    with pytest.raises(InvalidSecret, match="Secret ns/s has 'username' but no 'password'"):
        credentials_from_secret({"username": b"u"}, "ns/s")
    with pytest.raises(InvalidSecret, match="has 'password' but no 'username'"):
        credentials_from_secret({"password": b"p"}, "ns/s")
    assert tls_from_auth_secret({"username": b"u", "password": b"p"}, "ns/s") is None


def test_deprecated_tls_keys_in_the_auth_secret_are_read() -> None:
    data = {"caFile": b"PEM", "username": b"u", "password": b"p"}
    settings = tls_from_auth_secret(data, "ns/s")
    assert settings is not None
    assert (settings.ca, settings.cert, settings.secret) == (b"PEM", None, "ns/s")


class Recorder:
    """Two hosts: the repository at charts.test and a CDN; records Authorization headers."""

    def __init__(self, chart: Chart, chart_url: str, package: bytes | None = None) -> None:
        self.chart, self.package = chart, package if package is not None else chart.package()
        self.index = index_yaml([chart])
        entry = yaml.safe_load(self.index)
        entry["entries"][chart.name][0]["urls"] = [chart_url]
        self.index = yaml.safe_dump(entry).encode()
        self.seen: list[tuple[str, str | None]] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.seen.append((str(request.url), request.headers.get("Authorization")))
        if request.url.path.endswith("/index.yaml"):
            return httpx2.Response(200, content=self.index)
        if request.url.path.endswith(".tgz"):
            return httpx2.Response(200, content=self.package)
        return httpx2.Response(404)

    def options(self, **settings: Any) -> HelmRepositoryOptions:
        return mocked(self, username=USER, password=PASSWORD, **settings)


def _download(recorder: Recorder, tmp_path: Path, **settings: Any) -> Path:
    options = recorder.options(**settings)
    index = fetch_index("https://charts.test/stable?token=t", options)
    entry = select_chart(index, recorder.chart.name, "")
    return download_chart("https://charts.test/stable?token=t", entry, tmp_path, options)


def test_relative_urls_resolve_against_the_repository_with_its_query(tmp_path: Path) -> None:
    recorder = Recorder(podinfo("1.0.0"), "packages/podinfo-1.0.0.tgz")
    path = _download(recorder, tmp_path)
    assert path == tmp_path / "podinfo-1.0.0.tgz"
    assert path.read_bytes() == podinfo("1.0.0").package()
    assert [url for url, _ in recorder.seen] == [
        "https://charts.test/stable/index.yaml?token=t",
        "https://charts.test/stable/packages/podinfo-1.0.0.tgz?token=t",
    ]
    assert all(auth is not None and auth.startswith("Basic ") for _, auth in recorder.seen)


def test_credentials_are_not_passed_to_another_host(tmp_path: Path) -> None:
    recorder = Recorder(podinfo("1.0.0"), "https://cdn.test/podinfo-1.0.0.tgz")
    _download(recorder, tmp_path)
    assert recorder.seen[1] == ("https://cdn.test/podinfo-1.0.0.tgz", None)
    assert recorder.seen[0][1] is not None


def test_credentials_are_not_passed_to_another_port_or_scheme(tmp_path: Path) -> None:
    for elsewhere in ("https://charts.test:8443/p-1.0.0.tgz", "http://charts.test/p-1.0.0.tgz"):
        recorder = Recorder(podinfo("1.0.0"), elsewhere)
        _download(recorder, tmp_path)
        assert recorder.seen[1] == (elsewhere, None)


def test_pass_credentials_sends_them_to_every_host(tmp_path: Path) -> None:
    recorder = Recorder(podinfo("1.0.0"), "https://cdn.test/podinfo-1.0.0.tgz")
    _download(recorder, tmp_path, pass_credentials=True)
    assert recorder.seen[1][1] == recorder.seen[0][1] is not None


def test_a_redirect_to_another_host_drops_the_credentials() -> None:
    seen: dict[str, str | None] = {}

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen[request.url.host] = request.headers.get("Authorization")
        if request.url.host == "charts.test":
            return httpx2.Response(302, headers={"Location": "https://mirror.test/index.yaml"})
        return httpx2.Response(200, content=index_yaml([podinfo("1.0.0")]))

    fetch_index("https://charts.test", mocked(handler, username=USER, password=PASSWORD))
    assert seen["charts.test"] is not None
    assert seen["mirror.test"] is None


def test_resolve_chart_url_follows_helm() -> None:
    assert resolve_chart_url("https://h/a", "p.tgz") == "https://h/a/p.tgz"
    assert resolve_chart_url("https://h/a/", "../p.tgz") == "https://h/p.tgz"
    assert resolve_chart_url("https://h/a?x=1", "/p.tgz?y=2") == "https://h/p.tgz?x=1"
    assert resolve_chart_url("https://h/a", "https://o/p.tgz?y=2") == "https://o/p.tgz?y=2"
    with pytest.raises(InvalidUrl, match="only http:// and https:// chart URLs"):
        resolve_chart_url("https://h/a", "file:///etc/passwd")


# --- version selection ----------------------------------------------------------------


@pytest.fixture
def index() -> ChartIndex:
    return parse_index(index_yaml([podinfo(v) for v in VERSIONS]), "http://charts.test")


@pytest.mark.parametrize(
    ("version_range", "picked"),
    [
        ("", "6.5.0"),
        ("*", "6.5.0"),
        ("6.4.1", "6.4.1"),
        ("~6.4", "6.4.1"),
        ("<6.5.0", "6.4.1"),
        (">=7.0.0-0", "7.0.0-rc.1"),
        ("6.5.0-beta.2", "6.5.0-beta.2"),
        (">=6.5.0-0 <6.5.0", "6.5.0-beta.2"),
        ("1.x", "1.10.0"),
    ],
)
def test_select_chart_picks_as_helm_and_flux_do(
    index: ChartIndex, version_range: str, picked: str
) -> None:
    assert select_chart(index, "podinfo", version_range).version == picked


def test_a_missing_chart_names_the_charts_there(index: ChartIndex) -> None:
    with pytest.raises(RefNotFound) as caught:
        select_chart(index, "nginx", "*")
    assert str(caught.value) == (
        "chart 'nginx' not found in http://charts.test (charts there: podinfo); "
        "correct spec.chart or push the chart"
    )


def test_no_matching_version_lists_those_available(index: ChartIndex) -> None:
    with pytest.raises(NoSemverMatch) as caught:
        select_chart(index, "podinfo", ">=8")
    assert str(caught.value) == (
        "no chart version of 'podinfo' in http://charts.test matches '>=8': available "
        "7.0.0-rc.1, 6.5.0, 6.5.0-beta.2, 6.4.1, 1.10.0; widen spec.version or push a "
        "matching version"
    )


def test_an_invalid_range_is_a_ref_error(index: ChartIndex) -> None:
    with pytest.raises(InvalidRef, match=r"spec.version of chart 'podinfo'"):
        select_chart(index, "podinfo", ">=1 <<2")


def test_of_equal_versions_the_newest_created_wins() -> None:
    raw = b"""apiVersion: v1
entries:
  app:
  - {name: app, version: 1.0.0+a, created: "2026-01-01T00:00:00Z", urls: [a.tgz]}
  - {name: app, version: 1.0.0+b, created: "2026-02-01T00:00:00Z", urls: [b.tgz]}
  - {name: app, version: 1.0.0+c, created: "2026-02-01T01:00:00+02:00", urls: [c.tgz]}
"""
    index = parse_index(raw, "http://charts.test")
    assert select_chart(index, "app", "*").version == "1.0.0+b"


# --- downloads --------------------------------------------------------------------------


def test_download_from_the_loopback_repository(
    private_chart_repository: ChartRepository, tmp_path: Path
) -> None:
    serve(private_chart_repository, *VERSIONS)
    options = HelmRepositoryOptions(username=USER, password=PASSWORD)
    index = fetch_index(private_chart_repository.url, options)
    entry = select_chart(index, "podinfo", "~6.4")
    path = download_chart(private_chart_repository.url, entry, tmp_path, options)
    assert path.name == "podinfo-6.4.1.tgz"
    assert path.read_bytes() == podinfo("6.4.1").package()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["podinfo-6.4.1.tgz"]


def test_a_tampered_package_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    recorder = Recorder(podinfo("1.0.0"), "podinfo-1.0.0.tgz", podinfo("1.0.1").package())
    with pytest.raises(DigestMismatch, match="re-index the repository"):
        _download(recorder, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_package_that_is_not_gzip_is_refused(tmp_path: Path) -> None:
    entry = ChartVersion("app", "1.0.0", ("app-1.0.0.tgz",), "", ZERO_TIME, "", False, {})
    options = mocked(lambda request: httpx2.Response(200, content=b"<html>"))
    with pytest.raises(InvalidArtifact, match="not a gzip tarball"):
        download_chart("https://charts.test", entry, tmp_path, options)


def test_a_package_over_the_limit_is_refused(
    chart_repository: ChartRepository, tmp_path: Path
) -> None:
    serve(chart_repository, "1.0.0")
    entry = select_chart(fetch_index(chart_repository.url), "podinfo", "")
    with pytest.raises(TooLarge):
        download_chart(chart_repository.url, entry, tmp_path, max_bytes=10)
    assert list(tmp_path.iterdir()) == []


def test_a_package_missing_from_the_server_is_named(
    chart_repository: ChartRepository, tmp_path: Path
) -> None:
    entry = ChartVersion("app", "1.0.0", ("app-1.0.0.tgz",), "", ZERO_TIME, "", False, {})
    with pytest.raises(RefNotFound, match=r"chart 'app' version 1.0.0 is listed .* not found"):
        download_chart(chart_repository.url, entry, tmp_path)


@pytest.mark.parametrize(("name", "version"), [("../evil", "1.0.0"), ("app", "1.0.0/../../x")])
def test_names_that_would_leave_the_folder_are_refused(
    name: str, version: str, tmp_path: Path
) -> None:
    entry = ChartVersion(name, version, ("x.tgz",), "", ZERO_TIME, "", False, {})
    with pytest.raises(InvalidIndex, match="cannot name a package file"):
        download_chart(
            "https://charts.test", entry, tmp_path, mocked(lambda r: httpx2.Response(500))
        )


# --- transport failures and egress ------------------------------------------------------


def test_egress_refuses_an_internal_repository(chart_repository: ChartRepository) -> None:
    options = HelmRepositoryOptions(egress=Egress.of(block_internal=True))
    with pytest.raises(AddressRefused, match="internal address"):
        fetch_index(chart_repository.url, options)
    assert chart_repository.requests == []


def test_egress_checks_redirects_and_chart_hosts(tmp_path: Path) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(302, headers={"Location": "http://10.0.0.1/index.yaml"})

    options = mocked(handler, egress=Egress.of(block_internal=True))
    with pytest.raises(AddressRefused, match=r"10.0.0.1"):
        fetch_index("http://93.184.216.34/charts", options)
    metadata_host = ("http://169.254.169.254/a.tgz",)
    entry = ChartVersion("app", "1.0.0", metadata_host, "", ZERO_TIME, "", False, {})
    with pytest.raises(AddressRefused, match=r"169.254.169.254"):
        download_chart("http://93.184.216.34/charts", entry, tmp_path, options)


def test_a_closed_port_is_unreachable() -> None:
    with pytest.raises(Unreachable, match=r"check spec.url and that the repository is up"):
        fetch_index(f"http://127.0.0.1:{free_port()}")


def test_timeouts_and_server_errors_are_transient() -> None:
    def timeout(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ReadTimeout("slow", request=request)

    with pytest.raises(FetchTimeout, match=r"raise spec.timeout"):
        fetch_index("https://charts.test", mocked(timeout))
    with pytest.raises(ServerUnavailable, match="HTTP 503"):
        fetch_index("https://charts.test", mocked(lambda request: httpx2.Response(503)))


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("oci://registry.test/charts", "needs spec.type: oci"),
        ("ftp://charts.test", "must be http:// or https://"),
        ("https://user:hunter2@charts.test", "carries credentials"),
    ],
)
def test_unusable_urls_are_refused_without_showing_credentials(url: str, message: str) -> None:
    with pytest.raises(InvalidUrl, match=message) as caught:
        fetch_index(url)
    assert "hunter2" not in str(caught.value)
