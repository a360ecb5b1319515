"""Algorithm capability: the registry and the algorithms' Python environments."""
