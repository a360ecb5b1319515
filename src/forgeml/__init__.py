"""ForgeML: a self-hostable, multi-tenant ML training platform."""

__version__ = "0.1.0"
