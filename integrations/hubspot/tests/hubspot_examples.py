"""HubSpot's own example payloads that the fake answers with, and where each comes from.

Sources:
* Error bodies: developers.hubspot.com/docs/api/error-handling ("status", "message",
  "correlationId", "category"; 401 `INVALID_AUTHENTICATION`, 400 `VALIDATION_ERROR` whose message
  is "Property values were not valid: [...]" with one `{"isValid": false, "error":
  "PROPERTY_DOESNT_EXIST", "name": ...}` per property, 404 `OBJECT_NOT_FOUND`) and the SDK's
  `hubspot.crm.contacts.models.Error` (the fields `category`, `correlationId`, `message`).
* Rate-limit headers: developers.hubspot.com/docs/api/usage-details ("X-HubSpot-RateLimit-Daily",
  "-Daily-Remaining", "-Interval-Milliseconds", "-Max", "-Remaining", "-Secondly",
  "-Secondly-Remaining"); its 429 body (`"errorType": "RATE_LIMIT"`, `"policyName": "SECONDLY"`).
* Property definitions: the example response of GET /crm/v3/properties/contacts in HubSpot's API
  reference (developers.hubspot.com/docs/api/crm/properties), trimmed to the default contact
  properties Clozit maps, with every field `hubspot.crm.properties.models.ModelProperty` requires
  (name, label, type, fieldType, groupName, description, options).
"""

import uuid


def error_body(message: str, category: str) -> dict:
    return {"status": "error", "message": message, "correlationId": str(uuid.uuid4()), "category": category}


def rate_limit_headers(*, remaining: int = 189) -> dict:
    return {
        "X-HubSpot-RateLimit-Daily": "250000",
        "X-HubSpot-RateLimit-Daily-Remaining": "249990",
        "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
        "X-HubSpot-RateLimit-Max": "190",
        "X-HubSpot-RateLimit-Remaining": str(remaining),
        "X-HubSpot-RateLimit-Secondly": "19",
        "X-HubSpot-RateLimit-Secondly-Remaining": str(min(remaining, 19)),
    }


def _property(name, label, type="string", field_type="text", options=(), read_only=False, group="contactinformation"):
    return {
        "name": name,
        "label": label,
        "type": type,
        "fieldType": field_type,
        "description": "",
        "groupName": group,
        "options": list(options),
        "displayOrder": -1,
        "calculated": False,
        "externalOptions": False,
        "hasUniqueValue": name == "hs_object_id",
        "hidden": False,
        "hubspotDefined": True,
        "formField": not read_only,
        "createdAt": "2019-08-06T02:41:08.029Z",
        "updatedAt": "2026-01-06T17:48:27.418Z",
        "modificationMetadata": {"archivable": False, "readOnlyDefinition": True, "readOnlyValue": read_only},
    }


def _option(value, label, order):
    return {"label": label, "value": value, "displayOrder": order, "hidden": False, "description": ""}


DEFAULT_PROPERTIES = [
    _property("firstname", "First Name"),
    _property("lastname", "Last Name"),
    _property("email", "Email"),
    _property("phone", "Phone Number", field_type="phonenumber"),
    _property("mobilephone", "Mobile Phone Number", field_type="phonenumber"),
    _property("company", "Company Name"),
    _property("jobtitle", "Job Title"),
    _property("hs_object_id", "Record ID", type="number", field_type="number", read_only=True),
    _property(
        "hs_lead_status",
        "Lead Status",
        type="enumeration",
        field_type="radio",
        options=[
            _option("NEW", "New", 0),
            _option("OPEN", "Open", 1),
            _option("IN_PROGRESS", "In Progress", 2),
            _option("OPEN_DEAL", "Open Deal", 3),
            _option("UNQUALIFIED", "Unqualified", 4),
            _option("ATTEMPTED_TO_CONTACT", "Attempted to Contact", 5),
            _option("CONNECTED", "Connected", 6),
            _option("BAD_TIMING", "Bad Timing", 7),
        ],
    ),
]
