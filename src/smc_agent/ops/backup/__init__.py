"""Backups: consistent dumps (pg_dump custom format / SQLite online backup), gzip, directory or S3,
verification by a real restore, restore with trading halted, retention."""
