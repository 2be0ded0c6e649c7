"""Staff work on graduates: enrol, list, read, edit, deactivate, reissue codes."""
