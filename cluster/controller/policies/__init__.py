"""Built-in autoscaling policies, one module each; `autoscale.load_policies()` imports every module here."""
