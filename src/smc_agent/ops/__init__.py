"""Operations: system status, incidents, runbooks, backups, forensics."""
