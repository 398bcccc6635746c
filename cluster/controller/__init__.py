"""The controller: replica registry, health and replacement."""
