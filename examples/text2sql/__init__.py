"""The bundled Text2SQL example: a music store."""
