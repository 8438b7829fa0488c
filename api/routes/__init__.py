"""The HTTP API's routers, one module per resource; ``api.app`` includes them all."""
