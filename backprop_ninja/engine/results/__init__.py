"""Results: what a check finds, as plain typed records that cross processes and sit in a gradebook
as JSON, and learners' text made safe to show. Imports no other room; every room may import it."""
