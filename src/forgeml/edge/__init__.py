"""The HTTP edge shared by the API (`api/`) and the portal (`web/`): who is calling, drain state."""
