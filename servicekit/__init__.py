"""Pieces both services share: JSON logging and gRPC serving defaults."""
