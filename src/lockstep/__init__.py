"""lockstep: a GitOps engine that keeps Kubernetes clusters in lockstep with Git and OCI.

The package is layered (see the import-linter contracts in pyproject.toml):
``kube`` is the one adapter to the Kubernetes API, ``api`` holds the typed models
of the served custom resources, ``dev`` the local control plane and sandbox, and
``cli`` the ``lockstep`` command on top.
"""

__version__ = "0.1.0"
