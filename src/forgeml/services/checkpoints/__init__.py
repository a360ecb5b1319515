"""Checkpoint capability: tenant checkpoints and their sync with running attempts."""
