"""Web adapter: the FastAPI app, JSON API under /api/v1 and HTML pages."""
