"""A full disk under the artifact store is told as such: the source reconciler turns
ENOSPC, from the store's write or libgit2's checkout, into a retried
StorageOperationFailed naming the store's folder."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any, cast

import pygit2
import pytest

from lockstep.api.source import GitRepository, GitRepositoryStatus
from lockstep.controllers.shell import Failure
from lockstep.controllers.source.base import STORAGE_OPERATION_FAILED, SourceReconciler
from lockstep.kube import KubeClient
from lockstep.sources import git
from lockstep.sources.store import ArtifactStore

NO_SPACE = "could not write to '/store/.scratch/checkout-1/tree/big': No space left on device"


class FullDisk(SourceReconciler[GitRepository, GitRepositoryStatus]):
    kind = "GitRepository"
    name = "gitrepository"
    model = GitRepository
    status_model = GitRepositoryStatus

    def __init__(self, store: ArtifactStore, error: Exception) -> None:
        super().__init__(cast(KubeClient, None), store, cast(Any, None), store.root / ".scratch")
        self._error = error

    async def build(self, source: GitRepository, status: GitRepositoryStatus) -> Any:
        raise self._error


def _repository() -> GitRepository:
    return GitRepository.model_validate(
        {
            "metadata": {"name": "repo", "namespace": "apps"},
            "spec": {"url": "https://git.example/repo", "interval": "5m"},
        }
    )


async def test_a_full_store_is_a_retried_failure_naming_its_folder(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "store", "http://127.0.0.1:1")
    reconciler = FullDisk(store, OSError(errno.ENOSPC, "No space left on device"))

    with pytest.raises(Failure) as failed:
        await reconciler.pipeline(_repository(), GitRepositoryStatus())

    assert failed.value.reason == STORAGE_OPERATION_FAILED
    assert failed.value.condition == "FetchFailed"
    assert not failed.value.terminal
    assert str(failed.value) == (
        f"GitRepository apps/repo: no space left on the artifact store {store.root} for the "
        "new artifact; free space on its volume or enlarge it (the last artifact is served "
        "meanwhile, the fetch is retried)"
    )


async def test_other_disk_errors_stay_unexpected(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "store", "http://127.0.0.1:1")
    reconciler = FullDisk(store, OSError(errno.EACCES, "Permission denied"))

    with pytest.raises(PermissionError):
        await reconciler.pipeline(_repository(), GitRepositoryStatus())


class _Repository:
    def __init__(self, message: str) -> None:
        self._message = message

    def checkout_tree(self, *args: Any, **kwargs: Any) -> None:
        raise pygit2.GitError(self._message)


def test_libgit2_s_full_disk_is_the_oserror_of_every_other_writer() -> None:
    with pytest.raises(OSError, match="No space left on device") as full:
        git._checkout_tree(cast(Any, _Repository(NO_SPACE)), cast(Any, None), [])
    assert full.value.errno == errno.ENOSPC
    assert NO_SPACE in str(full.value)

    with pytest.raises(pygit2.GitError):
        git._checkout_tree(cast(Any, _Repository("object not found")), cast(Any, None), [])
