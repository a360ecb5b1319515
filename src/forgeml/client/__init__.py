"""ForgeML client layer (see ARCHITECTURE.md)."""
