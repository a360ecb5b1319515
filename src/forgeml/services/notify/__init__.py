"""Notification capability: the event outbox, its dispatcher, webhooks and e-mail."""
