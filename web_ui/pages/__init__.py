"""Server-rendered pages of the admin console. Reads go through the services; every change is made by the
browser through the REST API, the one way anything changes."""
