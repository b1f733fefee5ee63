"""phoenix connector for tracestrata."""
