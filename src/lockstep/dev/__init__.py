"""The local Kubernetes control plane and sandbox behind ``lockstep dev``."""
