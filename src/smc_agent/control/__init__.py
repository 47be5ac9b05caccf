"""Control plane: trading state (halt / resume) and failover state, one facade for API, CLI and playbook."""
