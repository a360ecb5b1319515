"""ForgeML storage layer (see ARCHITECTURE.md)."""
