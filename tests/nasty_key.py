"""The API key the tests use: every URL encoding changes it, so a leak in any encoding shows."""

NASTY_KEY = "Sëcret+key/with=odd%chars and space&more"
