"""One reconciler per served kind, and the manager that runs them on the work queues."""
