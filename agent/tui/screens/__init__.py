"""The screens of the TUI, one module each: configuration, scan, results, history, send."""
