"""Feed contracts, clients, parsers and reporter-name resolution."""
