"""The local platform's HTTP layer: the FastAPI routes, their auth, limits and error answers."""
