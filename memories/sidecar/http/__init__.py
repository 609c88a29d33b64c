"""The agent's HTTP side: :mod:`.api` (the routes of openapi.yaml) and :mod:`.server` (the listener and its limits)."""
