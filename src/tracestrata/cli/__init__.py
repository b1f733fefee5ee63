"""The `tracestrata` command line: thin commands over library functions."""
