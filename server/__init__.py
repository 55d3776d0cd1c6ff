"""The central server that receives, stores and validates inventories."""
