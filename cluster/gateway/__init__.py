"""The gateway: gRPC server, request pipeline, validation, wire conversion."""
