"""ForgeML workers layer (see ARCHITECTURE.md)."""
