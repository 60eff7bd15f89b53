"""Shop data: the log format, validation of a shop folder, and importers for shop exports."""
