"""``lockstep generate key-pair``: a cosign key pair to sign artifacts with.

Writes ``<prefix>.key``, the private key encrypted with a password in cosign's own file
format (readable by the owner only), and ``<prefix>.pub``, the PEM public key, through
:func:`lockstep.sources.cosign.generate_key_pair`. cosign reads both files; the private
key signs with ``lockstep push artifact --sign --key`` or ``cosign sign --key``, and the
public key goes into the Secret an OCIRepository's ``spec.verify.secretRef`` names.

The password comes from ``COSIGN_PASSWORD``, as with cosign, or from a prompt when a
terminal is attached; `cosign_password` also serves :mod:`lockstep.cli.artifact`.

Registered on the ``lockstep`` command by :mod:`lockstep.cli.main`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from lockstep.cli.context import UserError, console
from lockstep.sources.cosign import generate_key_pair

generate_app = typer.Typer(help="Generate keys for signing artifacts.", no_args_is_help=True)

PASSWORD_ENV = "COSIGN_PASSWORD"
PRIVATE_KEY_MODE = 0o600


@generate_app.command("key-pair")
def generate_key_pair_command(
    prefix: Annotated[
        str,
        typer.Option(
            "--output-key-prefix",
            "--output-prefix",
            help="Write <prefix>.key and <prefix>.pub.",
        ),
    ] = "cosign",
) -> None:
    """Generate a cosign key pair (ECDSA P-256): <prefix>.key, encrypted with the password
    in COSIGN_PASSWORD (asked for at a terminal), and <prefix>.pub.

    Example:

      COSIGN_PASSWORD=secret lockstep generate key-pair --output-key-prefix release
    """
    private_path, public_path = Path(f"{prefix}.key"), Path(f"{prefix}.pub")
    for path in (private_path, public_path):
        if path.exists():
            raise UserError(
                f"{path} already exists; lockstep does not overwrite keys",
                hint="move it away or choose another --output-key-prefix",
            )
    pair = generate_key_pair(cosign_password(confirm=True))
    try:
        _write_new(private_path, pair.private_pem, PRIVATE_KEY_MODE)
        _write_new(public_path, pair.public_pem, 0o644)
    except OSError as error:
        raise UserError(
            f"cannot write the key pair to {error.filename}: {error.strerror}",
            hint="choose a writable --output-key-prefix",
        ) from error
    console.print(f"[green]✓[/] private key written to {private_path}, public key to {public_path}")


def cosign_password(*, confirm: bool) -> bytes:
    """The private key's password: ``COSIGN_PASSWORD`` (which may be empty), else a prompt."""
    password = os.environ.get(PASSWORD_ENV)
    if password is not None:
        return password.encode()
    if not sys.stdin.isatty():
        raise UserError(
            f"{PASSWORD_ENV} is not set and there is no terminal to ask for the key's password",
            hint=f"set {PASSWORD_ENV} (to an empty value for a key without password)",
        )
    answer: str = typer.prompt(
        "Password for the private key",
        default="",
        show_default=False,
        hide_input=True,
        confirmation_prompt=confirm,
    )
    return answer.encode()


def _write_new(path: Path, content: bytes, mode: int) -> None:
    """Create `path` with `mode` from the start, so the private key is never readable by others."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "wb") as file:
        file.write(content)
