"""Asking for a new community, and the site administrators' pages (``/admin/``)."""
