"""The configuration domain: every entity an admin configures, validated in one place.

`models` holds the entity dataclasses, `validation` turns untrusted JSON into them (or a bilingual
`ValidationFailed`), `kinds` lists the entity kinds with their keys and cross-references, which the store,
the REST API and the OpenAPI document are all generated from.
"""
