"""files connector for tracestrata."""
