"""Executable runbooks: one per playbook procedure, steps with precondition, action, verification
and rollback, dry-run, confirmations for destructive steps, one run at a time, recorded on the
incident timeline, each step printing the equivalent ``kubectl`` command for a cluster."""
