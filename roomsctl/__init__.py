"""roomsctl: a command-line client of the scheduling service for people and scripts."""
