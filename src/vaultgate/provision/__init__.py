"""Provisioning: the SQL plans the gateway applies and the CLI-side flow."""
