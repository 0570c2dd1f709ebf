"""Data module: readers, validation, sessions, vocabulary, splits and torch datasets."""
