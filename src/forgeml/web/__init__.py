"""ForgeML web layer (see ARCHITECTURE.md)."""
