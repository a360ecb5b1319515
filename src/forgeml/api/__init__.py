"""ForgeML api layer (see ARCHITECTURE.md)."""
