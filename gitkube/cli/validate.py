"""`gitkube validate`: placeholder until the source and schema packages land."""
