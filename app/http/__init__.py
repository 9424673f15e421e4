"""The request pipeline: hooks, access, errors and bodies of the HTTP API (Flask lives here and above)."""
