"""Rendering: a Kustomization's path in an extracted artifact → the list of desired objects.

Libraries for the Kustomization reconciler, which calls them from a thread pool because
they block on a subprocess and the disk. They know nothing of custom resources: the
reconciler turns the spec into plain values and calls

- :func:`lockstep.render.kustomize.build_kustomization` with a
  :class:`lockstep.render.kustomize.BuildOptions` to build the path with Kustomize
  (and decrypt it with the age keys of ``spec.decryption``, given as ``decryption_keys``),
- :func:`lockstep.render.substitute.substitute` with the postBuild variables,

and maps :mod:`lockstep.render.errors` to the ``BuildFailed`` reason. The modules:

- ``errors``: the exception hierarchy of this package;
- ``bounds``: ceilings on the YAML and JSON the engine reads (size, nesting, aliases);
- ``documents``: YAML text to validated objects, with file and line in every error;
- ``references``: remote bases, downloads and paths leaving the artifact are refused;
- ``kustomize``: plain-directory generation, the spec's options, the Kustomize build;
- ``kustomizer``: the resident Kustomize build service the builds run in;
- ``helm``: the resident Helm rendering service: charts rendered, packaged, inspected
  by Helm's own SDK, for the Helm release and HelmChart reconcilers;
- ``resident``: the pool of resident Go processes both services are;
- ``failures``: Kustomize's errors on one line, stable, naming the file;
- ``process``: the build's child processes bounded in memory, CPU time and time;
- ``cache``: builds kept by content, so that the same build runs Kustomize once;
- ``sops``: SOPS decryption with age keys, of generator inputs and of built objects;
- ``substitute``: postBuild substitution of each object, with Flux's rules;
- ``envsubst``: the bash-style expressions it evaluates, as Flux's envsubst library;
- ``glob``: the patterns of ``${var#pattern}`` and its kin.
"""
