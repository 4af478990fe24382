"""Council-neutral built-in plugins, registered by default."""
