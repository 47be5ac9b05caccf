"""Causal Smart Money Concepts indicators: batch (`batch`), streaming (`stream.SMCStream`), peer
compatibility (`compat`). Pure layer: numpy arrays in, typed results out, no I/O."""
