"""A double-entry ledger in minor units (cents)."""


class Ledger:
    def __init__(self):
        self.entries = []

    def post(self, debit, credit, amount):
        if amount <= 0:
            raise ValueError("amount must be positive")
        self.entries.append((debit, credit, amount))

    def balance(self, account):
        total = 0
        for debit, credit, amount in self.entries:
            if debit == account:
                total -= amount
            if credit == account:
                total += amount
        return total
