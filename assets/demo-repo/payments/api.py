"""The public API: charges, as plain functions a web layer calls."""

from payments.ledger import Ledger

ledger = Ledger()


def charge(customer, amount):
    ledger.post(customer, "revenue", amount)
    return {"customer": customer, "amount": amount, "status": "charged"}
