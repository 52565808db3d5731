"""Cargo claims: gather shipment status from the carrier, check the claim against policy and rules, propose."""
