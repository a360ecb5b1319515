"""ForgeML training layer (see ARCHITECTURE.md)."""
