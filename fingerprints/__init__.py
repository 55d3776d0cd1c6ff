"""The catalog of products and vendors, the matching engine and dependency scoring."""
