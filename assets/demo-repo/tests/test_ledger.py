import unittest

from payments.ledger import Ledger


class LedgerTest(unittest.TestCase):
    def test_a_posting_moves_money_between_accounts(self):
        ledger = Ledger()
        ledger.post("alice", "revenue", 250)
        self.assertEqual(ledger.balance("alice"), -250)
        self.assertEqual(ledger.balance("revenue"), 250)

    def test_a_non_positive_amount_is_refused(self):
        with self.assertRaises(ValueError):
            Ledger().post("alice", "revenue", 0)


if __name__ == "__main__":
    unittest.main()
