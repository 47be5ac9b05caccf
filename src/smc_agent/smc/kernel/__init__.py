"""Compiled (numba) kernel shared by the batch functions and the streaming API."""
