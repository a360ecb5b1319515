"""ForgeML cli layer (see ARCHITECTURE.md)."""
