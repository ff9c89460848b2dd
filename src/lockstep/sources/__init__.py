"""Sources: Git repositories, OCI artifacts and Helm charts turned into artifacts in the store.

Libraries for the source reconcilers, which call them from a thread pool because they
block on the network and the disk. They know nothing of custom resources, conditions or
queues: a reconciler reads its object and Secret, then calls

- :func:`lockstep.sources.git.resolve_ref` to learn the revision the remote offers now,
- :func:`lockstep.sources.git.checkout` when that revision is new,
- :meth:`lockstep.sources.store.ArtifactStore.store` with
  :meth:`lockstep.sources.ignore.IgnoreRules.for_tree` to pack the checkout,

and maps :mod:`lockstep.sources.errors` to conditions. The modules:

- ``errors``: the exception hierarchy of this package;
- ``refs``: Flux's ref precedence, semver selection and revision strings;
- ``credentials``: credentials from a Secret's data, known_hosts parsing;
- ``git``: ls-remote, fetch and checkout through libgit2;
- ``verify``: OpenPGP signatures of the checked-out commit and tag (``spec.verify``);
- ``ignore``: default, ``.sourceignore`` and ``spec.ignore`` exclusions;
- ``tarball``: deterministic gzip tarballs;
- ``store``: the artifact store (files named as Flux names them) with atomic writes and GC;
- ``oci``: OCI artifacts: ref precedence, revisions, pulling a layer;
- ``extract``: safe extraction of gzip tarballs (OCI layers, source artifacts);
- ``artifact_fetch``: a source's artifact downloaded by its consumer, digest checked, extracted;
- ``oci_push``: Flux-format artifacts written: packing a folder, push, tag, list;
- ``registry_client``: the part of the OCI distribution API that sources need;
- ``registry_auth``: docker config credentials and the registry's auth challenge;
- ``transport``: TLS settings and proxies from Secrets, for the registry client;
- ``image_names``: container image names (``spec.image``) and their canonical form;
- ``image_scan``: the tags of an image repository, and the digest of a tag;
- ``cosign``: cosign key-based signatures: verify, sign, cosign's key files;
- ``helm_index``: Helm repository indexes: parsed, sorted, stored as Flux stores them, searched;
- ``helm_repository``: HTTP chart repositories: the index and chart packages;
- ``helm_oci``: charts in OCI registries: version resolution and the chart layer.
"""
