"""ForgeML queue layer (see ARCHITECTURE.md)."""
