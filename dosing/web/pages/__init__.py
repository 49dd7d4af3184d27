"""The pages of each role (server-rendered HTML)."""
