"""Identity capability: tenants, users, tokens, sign-in, secrets and the audit trail."""
