"""The app's windows, one module per window (or a window and its confirmation)."""
