"""ForgeML db layer (see ARCHITECTURE.md)."""
