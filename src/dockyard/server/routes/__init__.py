"""One router per resource; all use the audited route class."""
