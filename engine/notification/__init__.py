"""Notifications: the in-app inbox of departments and command centres, and outgoing webhooks."""
