"""Checkpoint capability: tenant checkpoints and the location sync the runner uses."""
