"""Renderers: the terminal summary, the results JSON file, the JUnit gate suite and the HTML report.
They read the decided results; none decides anything."""
