"""lockstep's benchmarks: workloads on loopback servers and the local control plane."""
