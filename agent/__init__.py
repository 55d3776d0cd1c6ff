"""The tiebreak agent: command line, configuration, scan orchestration, inventory output."""

__version__ = "0.1.0"
