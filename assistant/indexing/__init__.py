"""Sources -> documents -> collections, incrementally by content hash."""
