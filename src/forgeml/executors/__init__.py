"""ForgeML executors layer (see ARCHITECTURE.md)."""
