"""ForgeML domain layer (see ARCHITECTURE.md)."""
