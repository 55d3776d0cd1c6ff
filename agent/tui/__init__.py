"""The terminal UI of the agent (`tiebreak tui`), built with Textual.

`agent.tui.app.TiebreakApp` is the application; its screens live in `agent.tui.screens`, its
stylesheet in `tiebreak.tcss` beside it. View logic shared with the command line (labels, colours,
grouping, finding details) is in `agent.views`.
"""
