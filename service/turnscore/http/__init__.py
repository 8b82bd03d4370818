"""HTTP transport (FastAPI): ``turnscore.http.app.create_app`` over the process's shared runtime."""
