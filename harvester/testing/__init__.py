"""Helpers for testing with real parts (see private_keyring)."""
