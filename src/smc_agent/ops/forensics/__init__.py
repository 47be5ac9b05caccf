"""Forensics: the playbook's investigation queries, access-log errors, evidence capture."""
