"""langfuse connector for tracestrata."""
