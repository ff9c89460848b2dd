"""The fault-injection suite: the engine killed, its Git server and its API server
stopped, on the real control plane; ``make faults`` (``make test`` runs a bounded one)."""
