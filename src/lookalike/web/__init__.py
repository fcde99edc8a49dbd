"""The web app: ASGI app, static page, worker processes (embedded profile)."""
