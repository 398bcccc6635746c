"""Property-based fuzzing of the gateway's two APIs: cases from the HTTP schemas and the proto, sent
to a running gateway, each outcome classified (never a 500 / INTERNAL, never a hang)."""
