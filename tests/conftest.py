"""Test ground plugins shared by every test: the local control plane and loopback servers."""

pytest_plugins = [
    "ground.cluster",
    "ground.servers",
    "ground.engine",
    "ground.gpg",
    "ground.gitops",
    "ground.images",
    "ground.tls",
    "ground.relays",
    "ground.charts",
    "ground.reaper",
]
