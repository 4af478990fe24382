"""The staff web app (Jinja2 + htmx pages) and the JSON API, over core's services."""
