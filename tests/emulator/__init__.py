"""Tests that prove the emulator responds as Square's Customers and Customer Groups APIs do."""
