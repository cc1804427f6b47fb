"""HTML page routers, one module per context."""
