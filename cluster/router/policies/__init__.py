"""Built-in routing policies, one module each; the router imports every module here."""
