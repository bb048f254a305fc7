"""The use cases: notifier (validate, render, verify, deliver; one place knows every
stage) and ports (the Provider protocol delivery channels implement)."""
