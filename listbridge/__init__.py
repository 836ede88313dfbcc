"""The command line and the runtime that wires every part into one process."""
