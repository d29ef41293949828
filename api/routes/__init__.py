"""One module per resource; `api.main` wires their routers."""
