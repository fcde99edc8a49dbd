"""The web app's routes, one module per concern; each ``router(web)`` takes what the routes share."""
