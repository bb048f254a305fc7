"""The way in: gRPC serving (server, servicer), protobuf ↔ domain (wire), the service
token (auth), errors → statuses (status) and the settings (config). Only __main__
imports this package."""
