"""The store: catalog, checkout, orders, partners and their API, order lookup (F1, F2, F5)."""
