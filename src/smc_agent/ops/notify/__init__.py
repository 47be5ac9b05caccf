"""Notifications: the outbox, its dispatcher, and the providers (Slack, Statuspage, SMTP, webhook)."""
