"""Attacks against the running server, each reproduced and refused (issue 19)."""
