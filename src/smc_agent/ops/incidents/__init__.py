"""Incidents: priorities, the service, the playbook's message templates, post-mortem drafts."""
