"""HTTP surfaces of lockstep: the artifact server, metrics and health probes."""
