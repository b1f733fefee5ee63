"""Puts tests/ on sys.path (pytest inserts a rootdir conftest's folder), so `builders` and `fixtures` import everywhere."""
