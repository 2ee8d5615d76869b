"""The ``fields`` pipeline stage: CTR on the typed feature layer (ZOO.md §1) for ml-100k, Frappe, Criteo and
bring-your-own event files."""
