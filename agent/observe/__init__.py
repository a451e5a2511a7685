"""Samplers that observe the desktop: focused window, browser titles and typed text."""
