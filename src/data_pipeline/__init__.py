"""Compatibility path used by the operators' playbook; the code lives in ``smc_agent``."""
