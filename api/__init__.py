"""The HTTP API (Litestar): routes, request and response shapes, and the domain rules."""
