"""The router: which ready replica serves a request."""
