"""Probes: each collects and parses one kind of evidence; none decides vendors."""
