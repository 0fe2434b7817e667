"""The official Square OpenAPI definitions and a response checker built on them."""
