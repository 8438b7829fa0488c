"""The organisation: areas (district → street → community → grid), departments, co-building
units, categories, routing rules and accounts."""
