"""Read models for the web pages and the REST API: what a page shows, computed in the core
so the plugin stays a thin layer of routes and templates."""
