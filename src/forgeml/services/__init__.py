"""ForgeML services layer (see ARCHITECTURE.md)."""
