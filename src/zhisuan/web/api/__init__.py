"""JSON API routers, one module per context."""
