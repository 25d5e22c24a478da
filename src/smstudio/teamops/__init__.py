"""Team operations: what a platform team runs every week beyond apply."""
