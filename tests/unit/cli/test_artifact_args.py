"""Arguments of the artifact and key commands: what is refused before any registry is asked.

Run in process through Typer's runner: the `UserError` a command raises is what
:func:`lockstep.cli.main.run` prints as one line and a hint. Two tests run the real
process to check that printing and the exit code.
"""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lockstep.cli.artifact import parse_annotations, parse_creds
from lockstep.cli.context import UserError
from lockstep.cli.main import app
from lockstep.sources.cosign import load_private_key, public_key_pem
from lockstep.sources.credentials import BasicAuth

CLOSED = "oci://127.0.0.1:9/acme/app"
"""Nothing listens on the discard port: a test that reaches the network fails loudly."""


def refused(*args: str, env: dict[str, str] | None = None) -> UserError:
    result = CliRunner().invoke(app, list(args), env=env)
    assert isinstance(result.exception, UserError), (result.exit_code, result.output)
    assert "\n" not in str(result.exception)
    return result.exception


def folder(tmp_path: Path) -> str:
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "app.yaml").write_text("kind: ConfigMap\n")
    return str(tmp_path / "deploy")


@pytest.mark.parametrize(
    "command",
    [
        ["push", "artifact"],
        ["pull", "artifact"],
        ["tag", "artifact"],
        ["list", "artifacts"],
        ["generate", "key-pair"],
    ],
)
def test_every_command_has_help_with_an_example(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output


def test_annotations_are_key_value_pairs() -> None:
    assert parse_annotations(["a=1", "b.c/d=x=y", "empty="]) == {
        "a": "1",
        "b.c/d": "x=y",
        "empty": "",
    }
    for bad in ("novalue", "=value"):
        with pytest.raises(UserError, match="is not key=value"):
            parse_annotations([bad])


def test_creds_are_user_and_password() -> None:
    assert parse_creds("bot:s3:cret") == BasicAuth("bot", "s3:cret")
    for bad in ("bot", ":password"):
        with pytest.raises(UserError, match="user:password"):
            parse_creds(bad)


def test_push_needs_a_tag(tmp_path: Path) -> None:
    error = refused("push", "artifact", CLOSED, "--path", folder(tmp_path))
    assert str(error) == f"{CLOSED} names no tag to push to"
    assert error.hint == f"write {CLOSED}:TAG"


def test_push_names_every_missing_flag() -> None:
    error = refused("push", "artifact", f"{CLOSED}:v1")
    assert str(error) == f"push artifact {CLOSED}:v1 needs --path, --source, --revision"


def test_push_of_a_missing_path_says_so(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    error = refused(
        "push",
        "artifact",
        f"{CLOSED}:v1",
        "--path",
        str(missing),
        "--source",
        "s",
        "--revision",
        "r",
    )
    assert str(error) == f"--path {missing} does not exist"


def test_push_refuses_a_digest_reference(tmp_path: Path) -> None:
    error = refused("push", "artifact", f"{CLOSED}@sha256:{'a' * 64}", "--path", folder(tmp_path))
    assert "write a tag" in str(error)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--sign"], "--sign needs --key, a cosign private key file"),
        (["--key", "cosign.key"], "--key is used only to sign"),
        (["-a", "novalue"], "--annotations 'novalue' is not key=value"),
        (["--creds", "justauser"], "--creds must be user:password"),
    ],
)
def test_push_flags_are_checked_before_any_request(
    tmp_path: Path, flags: list[str], message: str
) -> None:
    base = ["push", "artifact", f"{CLOSED}:v1", "--path", folder(tmp_path)]
    error = refused(*base, "--source", "s", "--revision", "r", *flags)
    assert str(error) == message


def test_signing_with_a_wrong_password_fails_before_pushing(tmp_path: Path) -> None:
    prefix = tmp_path / "release"
    generated = CliRunner().invoke(
        app,
        ["generate", "key-pair", "--output-key-prefix", str(prefix)],
        env={"COSIGN_PASSWORD": "right"},
    )
    assert generated.exit_code == 0, generated.output
    base = ["push", "artifact", f"{CLOSED}:v1", "--path", folder(tmp_path), "--source", "s"]
    error = refused(
        *base,
        "--revision",
        "r",
        "--sign",
        "--key",
        f"{prefix}.key",
        env={"COSIGN_PASSWORD": "wrong"},
    )
    assert str(error).startswith(f"signing key {prefix}.key: ")
    assert "does not open with the password given" in str(error)


def test_pull_needs_an_empty_or_new_output(tmp_path: Path) -> None:
    assert str(refused("pull", "artifact", f"{CLOSED}:v1")) == (
        f"pull artifact {CLOSED}:v1 needs --output"
    )
    (tmp_path / "keep.txt").write_text("mine\n")
    error = refused("pull", "artifact", f"{CLOSED}:v1", "--output", str(tmp_path))
    assert str(error).startswith(f"--output {tmp_path} exists and is not an empty folder")
    assert (tmp_path / "keep.txt").read_text() == "mine\n"


def test_tag_needs_a_new_tag() -> None:
    assert (
        str(refused("tag", "artifact", f"{CLOSED}:v1")) == f"tag artifact {CLOSED}:v1 needs --tag"
    )


def test_list_takes_a_repository_without_tag() -> None:
    error = refused("list", "artifacts", "https://registry.test/app")
    assert "not an OCI artifact address" in str(error)


def test_generate_key_pair_writes_cosign_files_and_keeps_the_private_one_private(
    tmp_path: Path,
) -> None:
    prefix = tmp_path / "cosign"
    result = CliRunner().invoke(
        app,
        ["generate", "key-pair", "--output-key-prefix", str(prefix)],
        env={"COSIGN_PASSWORD": "pw"},
    )
    assert result.exit_code == 0, result.output
    private_pem = Path(f"{prefix}.key").read_bytes()
    assert private_pem.startswith(b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----")
    assert stat.S_IMODE(Path(f"{prefix}.key").stat().st_mode) == 0o600
    key = load_private_key(private_pem, b"pw")
    assert Path(f"{prefix}.pub").read_bytes() == public_key_pem(key)

    again = refused(
        "generate", "key-pair", "--output-key-prefix", str(prefix), env={"COSIGN_PASSWORD": "pw"}
    )
    assert str(again) == f"{prefix}.key already exists; lockstep does not overwrite keys"


def test_generate_key_pair_without_password_or_terminal_says_what_to_set(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lockstep", "generate", "key-pair", "--output-key-prefix", "k"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "error: COSIGN_PASSWORD is not set and there is no terminal to ask for the key's password",
        "hint: set COSIGN_PASSWORD (to an empty value for a key without password)",
    ]
    assert not (tmp_path / "k.key").exists()


def test_an_unreachable_registry_is_one_line_and_exit_code_1(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lockstep", "list", "artifacts", CLOSED, "--insecure"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [
        f"error: cannot reach the registry 127.0.0.1:9 for {CLOSED}",
        "hint: check the address and that the registry is up",
    ]
