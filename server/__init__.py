"""The MCP server: thin wrappers over slm_distill.tools (see issue on the conversational layer)."""
