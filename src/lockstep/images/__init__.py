"""Image update automation, as a pure library: which tag an ImagePolicy picks, and how
marked values in YAML files are rewritten to it.

- :mod:`lockstep.images.policy`: semver ranges (with :mod:`lockstep.semver`),
  alphabetical and numerical ordering, ``filterTags`` with ``extract``.
- :mod:`lockstep.images.setters`: ``# {"$imagepolicy": "ns:name"}`` markers, and the
  ``:tag`` / ``:name`` / ``:digest`` forms, rewritten in place, every other byte kept.
- :mod:`lockstep.images.message`: the commit message from Flux's Go template (with
  :mod:`lockstep.gotemplate`, Go's text/template and sprig in Python).
- :mod:`lockstep.images.update`: the Setters strategy over the YAML files of a folder.

Imports nothing of lockstep but the pure :mod:`lockstep.semver`; called by the image
controllers and the CLI.
"""
