"""The web client's pages, one module per journey."""
