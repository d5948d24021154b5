"""How other systems work with Clozit: the public REST API (`api`), signed outgoing webhooks
(`webhooks`) and HubSpot both ways (`hubspot`). Each is a Django app of its own; all of them
act through the same services as the pages (nothing here holds a second copy of a rule), and
nothing in accounts, billing, campaigns or telephony imports them: they hear what happens
through `clozit.events`."""
