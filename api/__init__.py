"""The HTTP API: FastAPI app in `api.main`, one module per resource in `api.routes`."""
