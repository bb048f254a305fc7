"""Calendar credentials: sealing them for storage elsewhere, refreshing OAuth tokens."""
