"""One module per resource, each with an ``APIRouter`` (``routers`` where a resource has two prefixes)."""
